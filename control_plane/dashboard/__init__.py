"""The dashboard: the web pages of advertisers, venue owners, super-admins and technicians.

Server-rendered (Jinja2, `templates/`), with htmx for the live parts and no script of its own
inline, over the same services the API's routes call: a page composes services as a route
does, and never keeps a second copy of their rules. Who may see or do what is the API's
policy (`auth/policy.py`): another org's object answers 404 on a page as it does on the API.

- `web.py`: rendering, the page route (errors as pages, security headers, the session cookie
  renewed), and the form errors shown next to their fields;
- `session.py`: the signed-in session (the API's own access token, in an HttpOnly cookie) and
  CSRF (a signed double-submit token on every form post);
- one module of pages per audience: `auth_pages.py` (sign up, sign in, out, switch org),
  `advertiser.py`, `venue_owner.py`, `admin.py`, `account.py`.
"""
