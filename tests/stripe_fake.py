"""A stateful fake of the Stripe API that speaks Stripe's wire format, for tests.

`StripeFake` is an HTTP server on 127.0.0.1 that the official SDK talks to unchanged:

    with StripeFake() as fake:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": fake.url, ...})

What it covers: Bearer auth (401), form bodies with bracket nesting, Stripe's error object,
idempotency keys per API key (replay with `Idempotent-Replayed: true`, `idempotency_error` on
changed parameters), list envelopes with `limit`/`starting_after`/`ending_before`, `expand`
of id fields, unknown top-level parameters (400 `parameter_unknown`, judged against the SDK's own
`stripe.params.*Params` types), and these resources as API version 2026-10-28 shapes them:
customers, invoice items, invoices (draft → open → paid | void; an invoice has no `charge`, its
payments are InvoicePayment objects pointing at a PaymentIntent whose `latest_charge` is the
Charge), payment intents, charges, refunds, Connect accounts (controller properties or legacy
`type`), account links, transfers and transfer reversals. Every state change appends a snapshot
Event to `fake.events`; `signed()` makes the payload and `Stripe-Signature` header of a webhook.

Like Stripe, finalizing an invoice whose amount due is 0 marks it paid at once, and an idempotent
result is stored for errors too (a 400 from a transfer to an account not yet onboarded replays
for the same key), except for parameter validation errors and `fail_next` failures.

What it does not do: money movement or balances, taxes, discounts, prices and products,
subscriptions, payment methods or 3-D Secure, currencies beyond echoing them, Stripe-Account
headers, search endpoints, deletes, automatic collection (an open invoice waits for
`POST .../pay`, `pay()` or `fail_payment()`), webhook delivery (tests hand `fake.events` to their
handler), or any endpoint not in `_routes` (answered 404 as an unrecognized URL). Error codes are
Stripe's where known (`resource_missing`, `parameter_missing`, `parameter_unknown`,
`invoice_not_editable`, `charge_already_refunded`, `charge_not_refundable`,
`insufficient_capabilities_for_transfer`); invoice state errors carry Stripe's message and no
code. Test controls are Python methods (`fail_next`, `hang_next`, `complete_onboarding`, `pay`,
`fail_payment`, `refuse_reversals`), not HTTP.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import stripe

Obj = dict[str, Any]
API_VERSION: str = getattr(stripe, "api_version", None) or "2026-10-28.endive"
_ALNUM = string.ascii_letters + string.digits
# the id prefix tells which store an id lives in (for `expand` and test lookups)
_PREFIXES = {"cus": "customer", "ii": "invoiceitem", "in": "invoice", "inpay": "invoice_payment",
             "pi": "payment_intent", "ch": "charge", "re": "refund", "acct": "account",
             "tr": "transfer", "trr": "transfer_reversal"}
# what the SDK may send on any request; never a wire parameter of its own
_OPTIONS = {"expand", "api_key", "idempotency_key", "stripe_account", "stripe_context",
            "stripe_version", "max_network_retries", "headers", "content_type"}


def _new_id(prefix: str, n: int = 24) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ALNUM) for _ in range(n))}"


def _now() -> int:
    return int(time.time())


class StripeError(Exception):
    """A Stripe error answer; raised by handlers (and test controls) and sent as the body."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 param: str | None = None, type_: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.type = (
            status, message, code, param, type_)

    def payload(self) -> bytes:
        error: Obj = {"type": self.type, "message": self.message}
        error |= {k: v for k, v in (("code", self.code), ("param", self.param)) if v}
        return json.dumps({"error": error}).encode()


def _missing(param: str) -> StripeError:
    return StripeError(400, f"Missing required param: {param}.", "parameter_missing", param)


def _no_such(kind: str, id_: str, param: str = "id", status: int = 404) -> StripeError:
    return StripeError(status, f"No such {kind}: '{id_}'", "resource_missing", param)


def parse_form(query: str) -> Obj:
    """`a[b][c]=1&e[0]=x&e[]=y` → `{"a": {"b": {"c": "1"}}, "e": ["x", "y"]}` (values stay str)."""
    root: Obj = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        head, _, rest = key.partition("[")
        parts = [head, *re.findall(r"\[([^\]]*)\]", "[" + rest)] if rest else [head]
        node = root
        for i, part in enumerate(parts):
            part = part or str(len(node))  # `x[]` appends, as `x[0]`, `x[1]` would
            if i == len(parts) - 1:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):  # `a=1&a[b]=2`: the nested form wins
                    child = node[part] = {}
                node = child
    nested: Obj = _listify(root, "")
    return nested


def _listify(node: Any, key: str) -> Any:
    if not isinstance(node, dict):
        return node
    out = {k: _listify(v, k) for k, v in node.items()}
    # metadata keys may be digits ("0": "x") and must stay a dict
    if key != "metadata" and out and all(k.isdigit() for k in out):
        return [out[k] for k in sorted(out, key=int)]
    return out


def _int(p: Obj, name: str, default: int | None = None) -> int | None:
    if name not in p or p[name] == "":
        return default
    try:
        return int(p[name])
    except (TypeError, ValueError):
        raise StripeError(400, f"Invalid integer: {p[name]}", "parameter_invalid_integer",
                          name) from None


def _amount(p: Obj, name: str = "amount") -> int:
    value = _int(p, name)
    if value is None:
        raise _missing(name)
    if value < 0:
        raise StripeError(400, "This value must be greater than or equal to 0.",
                          "parameter_invalid_integer", name)
    return value


def _bool(p: Obj, name: str, default: bool) -> bool:
    return default if name not in p else str(p[name]).lower() == "true"


def _metadata(current: Obj, given: Any) -> Obj:
    """Stripe merges metadata on update: `""` for a key deletes it, `metadata=""` clears all."""
    if given is None:
        return current
    if given == "":
        return {}
    if not isinstance(given, dict):
        raise StripeError(400, "Invalid object", "parameter_invalid_empty", "metadata")
    out = dict(current)
    for k, v in given.items():
        if v == "":
            out.pop(k, None)
        else:
            out[k] = v
    return out


@dataclass
class Request:
    """One HTTP request as the fake saw it; `replayed` answers changed nothing."""

    method: str
    path: str
    params: Obj
    idempotency_key: str | None
    replayed: bool = False
    status: int = 0
    injected: bool = False  # answered by fail_next, not applied


@dataclass
class _Rule:
    remaining: int
    path_prefix: str | None
    value: float  # the status for fail_next, the seconds for hang_next


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.fake._serve(self)

    do_POST = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: StripeFake


class StripeFake:
    """The fake Stripe API; see the module docstring. Thread-safe: one lock guards all state."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._closing = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.requests: list[Request] = []
        self.events: list[Obj] = []
        self._store: dict[str, dict[str, Obj]] = {k: {} for k in _PREFIXES.values()}
        self._idem: dict[tuple[str, str], tuple[str, str, Obj, int, bytes, str]] = {}
        self._fails: list[_Rule] = []
        self._hangs: list[_Rule] = []
        self._refuse_reversals: str | None = None
        self._ctx: tuple[str, str | None] | None = None  # the request behind events being made
        self._allowed: dict[str, frozenset[str] | None] = {}
        R = r"(?P<id>[^/]+)"
        get = self._retrieve
        self._routes: list[tuple[str, re.Pattern[str], Callable[[Obj, Obj], Obj], str]] = [
            (m, re.compile(path), fn, params) for m, path, fn, params in [
                ("POST", "/v1/customers", self._customer_create, "CustomerCreateParams"),
                ("GET", "/v1/customers", self._lister("customer", ("email",)),
                 "CustomerListParams"),
                ("GET", f"/v1/customers/{R}", get("customer"), "CustomerRetrieveParams"),
                ("POST", f"/v1/customers/{R}", self._customer_update, "CustomerUpdateParams"),
                ("POST", "/v1/invoiceitems", self._item_create, "InvoiceItemCreateParams"),
                ("GET", "/v1/invoiceitems", self._lister("invoiceitem", ("invoice", "customer")),
                 "InvoiceItemListParams"),
                ("GET", f"/v1/invoiceitems/{R}", get("invoiceitem"), "InvoiceItemRetrieveParams"),
                ("POST", "/v1/invoices", self._invoice_create, "InvoiceCreateParams"),
                ("GET", "/v1/invoices",
                 self._lister("invoice", ("customer", "status", "collection_method")),
                 "InvoiceListParams"),
                ("GET", f"/v1/invoices/{R}", get("invoice"), "InvoiceRetrieveParams"),
                ("POST", f"/v1/invoices/{R}/finalize", self._invoice_finalize,
                 "InvoiceFinalizeInvoiceParams"),
                ("POST", f"/v1/invoices/{R}/send", self._invoice_send,
                 "InvoiceSendInvoiceParams"),
                ("POST", f"/v1/invoices/{R}/void", self._invoice_void,
                 "InvoiceVoidInvoiceParams"),
                ("POST", f"/v1/invoices/{R}/pay", self._invoice_pay, "InvoicePayParams"),
                ("GET", "/v1/invoice_payments", self._lister("invoice_payment",
                                                             ("invoice", "status")),
                 "InvoicePaymentListParams"),
                ("GET", f"/v1/invoice_payments/{R}", get("invoice_payment"),
                 "InvoicePaymentRetrieveParams"),
                ("GET", f"/v1/payment_intents/{R}", get("payment_intent"),
                 "PaymentIntentRetrieveParams"),
                ("GET", f"/v1/charges/{R}", get("charge"), "ChargeRetrieveParams"),
                ("POST", "/v1/refunds", self._refund_create, "RefundCreateParams"),
                ("GET", f"/v1/refunds/{R}", get("refund"), "RefundRetrieveParams"),
                ("POST", "/v1/accounts", self._account_create, "AccountCreateParams"),
                ("GET", f"/v1/accounts/{R}", get("account"), "AccountRetrieveParams"),
                ("POST", f"/v1/accounts/{R}", self._account_update, "AccountUpdateParams"),
                ("POST", "/v1/account_links", self._account_link_create,
                 "AccountLinkCreateParams"),
                ("POST", "/v1/transfers", self._transfer_create, "TransferCreateParams"),
                ("GET", "/v1/transfers", self._lister("transfer", ("transfer_group",
                                                                  "destination")),
                 "TransferListParams"),
                ("GET", f"/v1/transfers/{R}", get("transfer"), "TransferRetrieveParams"),
                ("POST", f"/v1/transfers/{R}/reversals", self._reversal_create,
                 "TransferReversalCreateParams"),
                ("GET", f"/v1/transfers/{R}/reversals", self._reversal_list,
                 "TransferReversalListParams"),
            ]]

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> StripeFake:
        if self._server is None:
            self._closing.clear()
            self._server = _Server(("127.0.0.1", 0), _Handler)
            self._server.fake = self
            self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
            # a short poll keeps close() quick: shutdown() waits for the loop to look
            self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                            name="stripe-fake", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes answers held by hang_next
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> StripeFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def client(self, api_key: str = "sk_test_fake", *, max_network_retries: int = 0,
               timeout: float = 5.0) -> stripe.StripeClient:
        """A StripeClient pointed at the fake; `timeout` is the requests client's read timeout."""
        return stripe.StripeClient(
            api_key, base_addresses={"api": self.url, "connect": self.url, "files": self.url},
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout))

    # -- HTTP --------------------------------------------------------------------------------------

    def _serve(self, h: _Handler) -> None:
        url = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length).decode() if length else ""
        if h.command == "GET" and url.path.startswith(("/hosted/", "/setup/")):
            return self._page(h, url.path)
        method, path = h.command, url.path
        params = parse_form(body if method == "POST" else url.query)
        auth = h.headers.get("Authorization", "")
        api_key = auth[7:].strip() if auth.startswith("Bearer ") else ""
        idem = h.headers.get("Idempotency-Key") if method == "POST" else None
        headers = {"Request-Id": _new_id("req", 14)}
        delay = 0.0
        with self._lock:
            record = Request(method, path, params, idem)
            self.requests.append(record)
            if not api_key.startswith(("sk_", "rk_")):
                status, payload = 401, StripeError(
                    401, f"Invalid API Key provided: {api_key[:8]}****" if api_key else
                    "You did not provide an API key. You need to provide your API key in the "
                    "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                    "YOUR_SECRET_KEY').").payload()
            else:
                delay = self._take(self._hangs, path) or 0.0
                fail = self._take(self._fails, path)
                if fail is not None:
                    record.injected = True
                    status, payload = int(fail), StripeError(
                        int(fail), "An unknown error occurred (StripeFake.fail_next).",
                        type_="api_error").payload()
                else:
                    status, payload = self._idempotent(api_key, idem, record, headers)
            record.status = status
        if delay:
            self._closing.wait(delay)
        if idem:
            headers["Idempotency-Key"] = idem
        self._write(h, status, payload, "application/json", headers)

    def _idempotent(self, api_key: str, idem: str | None, record: Request,
                    headers: dict[str, str]) -> tuple[int, bytes]:
        method, path, params = record.method, record.path, record.params
        if idem and (seen := self._idem.get((api_key, idem))):
            s_method, s_path, s_params, status, payload, request_id = seen
            if (s_method, s_path, s_params) == (method, path, params):
                record.replayed = True
                headers |= {"Idempotent-Replayed": "true", "Original-Request": request_id}
                return status, payload
            return 400, StripeError(
                400, "Keys for idempotent requests can only be used with the same parameters "
                f"they were first used with. Try using a key other than '{idem}' if you meant "
                "to execute a different request.", type_="idempotency_error").payload()
        self._ctx = (headers["Request-Id"], idem)
        try:
            status, payload = self._dispatch(method, path, params)
            stored = True
        except StripeError as e:
            status, payload = e.status, e.payload()
            # Stripe saves no result when parameters fail validation: nothing ran
            stored = not (e.code or "").startswith("parameter_")
        except Exception as e:  # a bug in the fake: say so to the test instead of hanging up
            status, payload = 500, StripeError(
                500, f"StripeFake crashed: {e!r}", type_="api_error").payload()
            stored = False
        finally:
            self._ctx = None
        if idem and stored:
            self._idem[(api_key, idem)] = (
                method, path, copy.deepcopy(params), status, payload, headers["Request-Id"])
        return status, payload

    def _dispatch(self, method: str, path: str, params: Obj) -> tuple[int, bytes]:
        for m, rx, fn, params_class in self._routes:
            if m == method and (match := rx.fullmatch(path)):
                self._check_params(params, params_class)
                obj = copy.deepcopy(fn(params, match.groupdict()))
                expand = params.get("expand") or []
                for p in [expand] if isinstance(expand, str) else expand:
                    self._expand(obj, p.split("."))
                return 200, json.dumps(obj).encode()
        raise StripeError(404, f"Unrecognized request URL ({method}: {path}). StripeFake does "
                          "not implement this endpoint.")

    def _check_params(self, params: Obj, params_class: str) -> None:
        if params_class not in self._allowed:
            cls = getattr(stripe.params, params_class, None)
            self._allowed[params_class] = frozenset(cls.__annotations__) if cls else None
        allowed = self._allowed[params_class]
        for name in params:
            if allowed is not None and name not in allowed and name not in _OPTIONS:
                raise StripeError(400, f"Received unknown parameter: {name}",
                                  "parameter_unknown", name)

    def _take(self, rules: list[_Rule], path: str) -> float | None:
        for rule in rules:
            if rule.remaining > 0 and path.startswith(rule.path_prefix or "/"):
                rule.remaining -= 1
                return rule.value
        return None

    @staticmethod
    def _write(h: _Handler, status: int, payload: bytes, ctype: str,
               headers: dict[str, str]) -> None:
        try:
            h.send_response(status)
            for k, v in {"Content-Type": ctype, "Content-Length": str(len(payload)),
                         "Stripe-Version": API_VERSION, **headers}.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout made by hang_next); nothing to tell it

    def _page(self, h: _Handler, path: str) -> None:
        """The hosted invoice page, its PDF, and the onboarding page: enough to follow a link."""
        parts = path.strip("/").split("/")
        with self._lock:
            inv = self._store["invoice"].get(parts[1]) if len(parts) > 1 else None
            number = inv and inv["number"]
        if parts[0] == "hosted" and inv and path.endswith("/pdf"):
            body, ctype = f"%PDF-1.4\n% invoice {number}\n".encode(), "application/pdf"
        elif parts[0] == "hosted" and inv:
            body, ctype = f"<h1>Invoice {number}</h1>".encode(), "text/html"
        elif parts[0] == "setup":
            body, ctype = b"<h1>Connect onboarding (StripeFake)</h1>", "text/html"
        else:
            body, ctype = b"not found", "text/plain"
        self._write(h, 200 if ctype != "text/plain" else 404, body, ctype, {})

    # -- shared helpers ----------------------------------------------------------------------------

    def _new(self, prefix: str, p: Obj | None = None, **fields: Any) -> Obj:
        obj = {"id": _new_id(prefix), "object": _PREFIXES[prefix], "created": _now(),
               "livemode": False, "metadata": _metadata({}, (p or {}).get("metadata")), **fields}
        self._store[_PREFIXES[prefix]][obj["id"]] = obj
        return obj

    def _get(self, kind: str, id_: str, param: str = "id", status: int = 404,
             label: str | None = None) -> Obj:
        if (obj := self._store[kind].get(id_)) is None:
            raise _no_such(label or kind, id_, param, status)
        return obj

    def _ref(self, p: Obj, param: str, kind: str, *, required: bool = True,
             label: str | None = None) -> Obj | None:
        """An object named in the body: a missing one is a 400 (404 is for the URL's id)."""
        if not p.get(param):
            if required:
                raise _missing(param)
            return None
        return self._get(kind, p[param], param, 400, label)

    def _retrieve(self, kind: str) -> Callable[[Obj, Obj], Obj]:
        return lambda p, m: self._get(kind, m["id"])

    def _lister(self, kind: str, filters: tuple[str, ...]) -> Callable[[Obj, Obj], Obj]:
        def handler(p: Obj, m: Obj) -> Obj:
            items = [o for o in reversed(self._store[kind].values())  # newest first
                     if all(o.get(f) == p[f] for f in filters if f in p)]
            if kind == "invoiceitem" and "pending" in p:
                items = [o for o in items if (o["invoice"] is None) == _bool(p, "pending", False)]
            if kind == "invoice_payment" and isinstance(p.get("payment"), dict):
                items = [o for o in items if p["payment"].get("payment_intent") in
                         (None, o["payment"].get("payment_intent"))]
            return self._page_of(items, p, "/v1/" + {"invoiceitem": "invoiceitems"}.get(
                kind, kind + "s"))
        return handler

    def _page_of(self, items: list[Obj], p: Obj, url: str) -> Obj:
        limit = max(1, min(100, _int(p, "limit", 10) or 10))
        ids = [o["id"] for o in items]
        for cursor in ("starting_after", "ending_before"):
            if p.get(cursor) and p[cursor] not in ids:
                raise _no_such("object", p[cursor], cursor, 400)
        if p.get("starting_after"):
            items = items[ids.index(p["starting_after"]) + 1:]
        elif p.get("ending_before"):
            items = items[:ids.index(p["ending_before"])][-limit:]
        return {"object": "list", "data": items[:limit], "has_more": len(items) > limit,
                "url": url}

    def _expand(self, node: Any, parts: list[str]) -> None:
        if isinstance(node, list):
            for item in node:
                self._expand(item, parts)
            return
        if not isinstance(node, dict) or not parts:
            return
        head = parts[0]
        if head == "payments" and node.get("object") == "invoice":  # an includable list
            node["payments"] = copy.deepcopy(self._lister("invoice_payment", ("invoice",))(
                {"invoice": node["id"]}, {}))
        value = node.get(head)
        if isinstance(value, str) and (kind := _PREFIXES.get(value.split("_")[0])):
            value = node[head] = copy.deepcopy(self._store[kind].get(value, value))
        self._expand(value, parts[1:])

    def event(self, type: str, obj: Obj, previous: Obj | None = None) -> Obj:
        """A snapshot Event around `obj`, as Stripe would send it (not added to `events`)."""
        data: Obj = {"object": copy.deepcopy(obj)}
        if previous:
            data["previous_attributes"] = copy.deepcopy(previous)
        request_id, idem = self._ctx or (None, None)
        event = {"id": _new_id("evt"), "object": "event", "api_version": API_VERSION,
                 "created": _now(), "data": data, "livemode": False, "pending_webhooks": 1,
                 "request": {"id": request_id, "idempotency_key": idem}, "type": type}
        if obj.get("object") == "account":  # a Connect event names the connected account
            event["account"] = obj["id"]
        return event

    def _emit(self, type: str, obj: Obj, before: Obj | None = None) -> None:
        previous = {k: v for k, v in (before or {}).items() if obj.get(k) != v}
        self.events.append(self.event(type, obj, previous or None))

    def signed(self, event: Obj, secret: str, *, timestamp: int | None = None
               ) -> tuple[bytes, str]:
        """The webhook body for `event` and its `Stripe-Signature` header value."""
        payload = json.dumps(event, indent=2)  # Stripe sends pretty-printed JSON
        sign = getattr(stripe.WebhookSignature, "generate_signature_header", None)
        if sign is not None:  # stripe 16.1 has it; older SDKs may not
            return payload.encode(), sign(payload, secret, timestamp)
        t = _now() if timestamp is None else timestamp  # the v1 scheme _webhook.py verifies
        mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
        return payload.encode(), f"t={t},v1={mac}"

    # -- customers ---------------------------------------------------------------------------------

    _CUSTOMER_FIELDS = ("name", "email", "description", "phone", "address", "shipping",
                        "preferred_locales", "tax_exempt", "invoice_settings")

    def _customer_create(self, p: Obj, m: Obj) -> Obj:
        fields = {"address": None, "description": None, "email": None, "name": None,
                  "invoice_settings": {"default_payment_method": None, "footer": None},
                  "phone": None, "preferred_locales": [], "shipping": None, "tax_exempt": "none",
                  **{k: p[k] for k in self._CUSTOMER_FIELDS if k in p}}
        return self._new("cus", p, balance=_int(p, "balance", 0), currency=None,
                         default_source=None, delinquent=False, next_invoice_sequence=1,
                         invoice_prefix=p.get("invoice_prefix") or secrets.token_hex(4).upper(),
                         test_clock=None, **fields)

    def _customer_update(self, p: Obj, m: Obj) -> Obj:
        cus = self._get("customer", m["id"])
        cus |= {k: p[k] or None for k in self._CUSTOMER_FIELDS if k in p}
        cus["metadata"] = _metadata(cus["metadata"], p.get("metadata"))
        return cus

    # -- invoice items and invoices ----------------------------------------------------------------

    def _item_create(self, p: Obj, m: Obj) -> Obj:
        cus = self._ref(p, "customer", "customer")
        assert cus is not None
        inv = self._ref(p, "invoice", "invoice", required=False)
        quantity = _int(p, "quantity", 1) or 1
        unit = p.get("unit_amount_decimal") or (p.get("price_data") or {}).get("unit_amount")
        if "amount" in p:
            amount = _amount(p)
        elif unit is not None:
            try:
                amount = int((Decimal(unit) * quantity).to_integral_value())
            except InvalidOperation:
                raise StripeError(400, f"Invalid decimal: {unit}", "parameter_invalid_decimal",
                                  "unit_amount_decimal") from None
        else:
            raise _missing("amount")
        currency = str(p.get("currency") or (inv or {}).get("currency") or "usd").lower()
        if inv is not None:
            if inv["status"] != "draft":
                raise StripeError(400, f"You can only add invoice items to draft invoices; "
                                  f"invoice {inv['id']} is {inv['status']}.",
                                  "invoice_not_editable", "invoice")
            if inv["customer"] != cus["id"] or inv["currency"] != currency:
                raise StripeError(400, "The invoice item's customer and currency must match "
                                  f"those of invoice {inv['id']}.", None, "invoice")
        now, period = _now(), p.get("period") or {}
        item = self._new("ii", p, amount=amount, currency=currency, customer=cus["id"], date=now,
                         description=p.get("description"), discountable=True, discounts=[],
                         invoice=inv and inv["id"], net_amount=amount, parent=None,
                         period={"start": _int(period, "start", now),
                                 "end": _int(period, "end", now)},
                         pricing=None, proration=False, quantity=quantity,
                         quantity_decimal=str(quantity), tax_rates=[], test_clock=None)
        if inv is not None:
            self._refresh(inv)
        return item

    def _refresh(self, inv: Obj) -> None:
        """Rebuilds a draft's lines and totals from the invoice items attached to it."""
        items = [i for i in self._store["invoiceitem"].values() if i["invoice"] == inv["id"]]
        lines = [{"id": "il_" + i["id"][3:], "object": "line_item", "amount": i["amount"],
                  "currency": i["currency"], "description": i["description"],
                  "discount_amounts": [], "discountable": True, "discounts": [],
                  "invoice": inv["id"], "livemode": False, "metadata": i["metadata"],
                  "parent": {"type": "invoice_item_details", "subscription_item_details": None,
                             "invoice_item_details": {"invoice_item": i["id"], "proration": False,
                                                      "proration_details": None,
                                                      "subscription": None}},
                  "period": i["period"], "pricing": None, "quantity": i["quantity"],
                  "subtotal": i["amount"], "taxes": []} for i in items]
        total = sum(i["amount"] for i in items)
        inv["lines"] = {"object": "list", "data": lines, "has_more": False,
                        "total_count": len(lines), "url": f"/v1/invoices/{inv['id']}/lines"}
        inv |= {"subtotal": total, "subtotal_excluding_tax": total, "total": total,
                "total_excluding_tax": total, "amount_due": total, "amount_remaining": total}

    def _invoice_create(self, p: Obj, m: Obj) -> Obj:
        cus = self._ref(p, "customer", "customer")
        assert cus is not None
        method = p.get("collection_method", "charge_automatically")
        if method not in ("charge_automatically", "send_invoice"):
            raise StripeError(400, f"Invalid collection_method: {method}", None,
                              "collection_method")
        behavior = p.get("pending_invoice_items_behavior", "exclude")
        if behavior not in ("include", "exclude"):
            raise StripeError(400, f"Invalid pending_invoice_items_behavior: {behavior}", None,
                              "pending_invoice_items_behavior")
        days = _int(p, "days_until_due")
        if days is not None and method != "send_invoice":
            raise StripeError(400, "You can only set `days_until_due` if `collection_method` is "
                              "`send_invoice`.", None, "days_until_due")
        now, currency = _now(), str(p.get("currency", "usd")).lower()
        due = _int(p, "due_date") or (now + 86400 * (30 if days is None else days)
                                      if method == "send_invoice" else None)
        inv = self._new(
            "in", p, account_country="US", account_name="StripeFake", amount_overpaid=0,
            amount_paid=0, amount_shipping=0, attempt_count=0, attempted=False,
            auto_advance=_bool(p, "auto_advance", False),
            automatic_tax={"enabled": False, "liability": None, "status": None},
            billing_reason="manual", collection_method=method, currency=currency,
            customer=cus["id"], customer_email=cus["email"], customer_name=cus["name"],
            description=p.get("description"), due_date=due, effective_at=None,
            ending_balance=None, hosted_invoice_url=None, invoice_pdf=None,
            issuer={"type": "self"}, next_payment_attempt=None, number=None, parent=None,
            period_end=now, period_start=now, starting_balance=0, status="draft",
            status_transitions={"finalized_at": None, "marked_uncollectible_at": None,
                                "paid_at": None, "voided_at": None},
            webhooks_delivered_at=None)
        if behavior == "include":
            for item in self._store["invoiceitem"].values():
                if (item["customer"], item["invoice"], item["currency"]) == (
                        cus["id"], None, currency):
                    item["invoice"] = inv["id"]
        self._refresh(inv)
        return inv

    def _in_state(self, inv: Obj, *states: str, verb: str) -> None:
        if inv["status"] == "paid" and verb == "pay":
            raise StripeError(400, "Invoice is already paid")
        if inv["status"] not in states:
            raise StripeError(400, f"You can only {verb} an invoice whose status is "
                              f"{' or '.join(states)}; this one is {inv['status']}.")

    def _invoice_finalize(self, p: Obj, m: Obj) -> Obj:
        inv = self._get("invoice", m["id"])
        if inv["status"] != "draft":
            raise StripeError(400, "This invoice is already finalized, you can't re-finalize a "
                              "non-draft invoice.")
        cus, now = self._store["customer"][inv["customer"]], _now()
        number = f"{cus['invoice_prefix']}-{cus['next_invoice_sequence']:04d}"
        cus["next_invoice_sequence"] += 1
        inv |= {"status": "open", "number": number, "effective_at": now,
                "auto_advance": _bool(p, "auto_advance", inv["auto_advance"]),
                "hosted_invoice_url": f"{self.url}/hosted/{inv['id']}",
                "invoice_pdf": f"{self.url}/hosted/{inv['id']}/pdf"}
        inv["status_transitions"]["finalized_at"] = now
        if inv["amount_due"] == 0:  # Stripe settles a zero-due invoice as it finalizes it
            inv["status"] = "paid"
            inv["status_transitions"]["paid_at"] = now
        else:  # the payment the hosted page (or automatic collection) will complete
            pi = self._new("pi", amount=inv["amount_due"], amount_capturable=0,
                           amount_received=0, capture_method="automatic",
                           client_secret=None, currency=inv["currency"],
                           customer=inv["customer"], description=None, last_payment_error=None,
                           latest_charge=None, payment_method=None,
                           payment_method_types=["card"], status="requires_payment_method",
                           transfer_group=None)
            pi["client_secret"] = f"{pi['id']}_secret_{_new_id('x', 16)[2:]}"
            self._new("inpay", amount_paid=None, amount_requested=inv["amount_due"],
                      currency=inv["currency"], invoice=inv["id"], is_default=True,
                      payment={"type": "payment_intent", "payment_intent": pi["id"]},
                      status="open", status_transitions={"canceled_at": None, "paid_at": None})
        self._emit("invoice.finalized", inv)
        if inv["status"] == "paid":
            self._emit("invoice.paid", inv)
        return inv

    def _invoice_send(self, p: Obj, m: Obj) -> Obj:
        inv = self._get("invoice", m["id"])
        self._in_state(inv, "open", verb="send")
        if inv["collection_method"] != "send_invoice":
            raise StripeError(400, "You can only manually send an invoice if its collection "
                              "method is 'send_invoice'.")
        return inv

    def _invoice_void(self, p: Obj, m: Obj) -> Obj:
        inv = self._get("invoice", m["id"])
        self._in_state(inv, "open", verb="void")
        inv["status"] = "void"
        inv["status_transitions"]["voided_at"] = _now()
        for pay in self._payments(inv):
            pay["status"] = "canceled"
            pay["status_transitions"]["canceled_at"] = _now()
            self._store["payment_intent"][pay["payment"]["payment_intent"]]["status"] = "canceled"
        self._emit("invoice.voided", inv)
        return inv

    def _invoice_pay(self, p: Obj, m: Obj) -> Obj:
        inv = self._get("invoice", m["id"])
        self._pay(inv, out_of_band=_bool(p, "paid_out_of_band", False))
        return inv

    def _payments(self, inv: Obj) -> list[Obj]:
        return [o for o in self._store["invoice_payment"].values()
                if o["invoice"] == inv["id"] and o["status"] == "open"]

    def _charge(self, pi: Obj, ok: bool) -> Obj:
        return self._new("ch", amount=pi["amount"], amount_captured=pi["amount"] if ok else 0,
                         amount_refunded=0, balance_transaction=_new_id("txn") if ok else None,
                         captured=ok, currency=pi["currency"], customer=pi["customer"],
                         description=None, failure_code=None if ok else "card_declined",
                         failure_message=None if ok else "Your card was declined.", paid=ok,
                         payment_intent=pi["id"], payment_method=_new_id("pm"), refunded=False,
                         status="succeeded" if ok else "failed", transfer_group=None)

    def _pay(self, inv: Obj, *, out_of_band: bool = False) -> None:
        self._in_state(inv, "open", verb="pay")
        now = _now()
        for pay in self._payments(inv):
            pi = self._store["payment_intent"][pay["payment"]["payment_intent"]]
            if out_of_band:  # paid elsewhere: the Stripe payment is dropped
                pay["status"] = "canceled"
                pay["status_transitions"]["canceled_at"] = now
                pi["status"] = "canceled"
                continue
            charge = self._charge(pi, ok=True)
            pi |= {"status": "succeeded", "amount_received": pi["amount"],
                   "latest_charge": charge["id"], "last_payment_error": None,
                   "payment_method": charge["payment_method"]}
            pay |= {"status": "paid", "amount_paid": pi["amount"]}
            pay["status_transitions"]["paid_at"] = now
        inv |= {"status": "paid", "amount_paid": inv["amount_due"], "amount_remaining": 0,
                "attempted": not out_of_band, "next_payment_attempt": None,
                "attempt_count": inv["attempt_count"] + (not out_of_band)}
        if out_of_band:
            inv["amount_paid_off_stripe"] = inv["amount_due"]
        inv["status_transitions"]["paid_at"] = now
        self._emit("invoice.paid", inv)

    # -- refunds -----------------------------------------------------------------------------------

    def _refund_create(self, p: Obj, m: Obj) -> Obj:
        if p.get("charge"):
            charge = self._ref(p, "charge", "charge")
        elif p.get("payment_intent"):
            pi = self._ref(p, "payment_intent", "payment_intent")
            assert pi is not None
            if pi["status"] != "succeeded":
                raise StripeError(400, f"This PaymentIntent ({pi['id']}) does not have a "
                                  "successful charge to refund.", None, "payment_intent")
            charge = self._store["charge"][pi["latest_charge"]]
        else:
            raise StripeError(400, "One of the following params should be provided for this "
                              "request: payment_intent or charge.", "parameter_missing")
        assert charge is not None
        if charge["status"] != "succeeded":
            raise StripeError(400, f"Charge {charge['id']} has not succeeded; there is nothing "
                              "to refund.", "charge_not_refundable", "charge")
        left = charge["amount_captured"] - charge["amount_refunded"]
        if left <= 0:
            raise StripeError(400, f"Charge {charge['id']} has already been refunded.",
                              "charge_already_refunded")
        amount = _amount(p) if "amount" in p else left
        if amount > left:
            raise StripeError(400, f"Refund amount ({amount}) is greater than unrefunded amount "
                              f"on charge ({left})", None, "amount")
        refund = self._new("re", p, amount=amount, charge=charge["id"],
                           currency=charge["currency"], payment_intent=charge["payment_intent"],
                           reason=p.get("reason"), status="succeeded")
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
        self._emit("charge.refunded", charge)
        return refund

    # -- Connect accounts and account links --------------------------------------------------------

    # legacy `type` → the controller properties Stripe reports for it
    _LEGACY = {"express": ("express", "application", "application", "stripe"),
               "standard": ("full", "account", "stripe", "stripe"),
               "custom": ("none", "application", "application", "application")}

    def _account_create(self, p: Obj, m: Obj) -> Obj:
        ctrl = p.get("controller")
        if ctrl is not None and "type" in p:
            raise StripeError(400, "You cannot specify both `type` and `controller`.",
                              "parameters_exclusive", "controller")
        if isinstance(ctrl, dict):
            dashboard = (ctrl.get("stripe_dashboard") or {}).get("type", "full")
            payer = (ctrl.get("fees") or {}).get("payer", "account")
            losses = (ctrl.get("losses") or {}).get("payments", "stripe")
            collection = ctrl.get("requirement_collection", "stripe")
            kind = {"express": "express", "full": "standard"}.get(
                dashboard, "custom" if collection == "application" else "none")
        elif (kind := p.get("type", "standard")) in self._LEGACY:
            dashboard, payer, losses, collection = self._LEGACY[kind]
        else:
            raise StripeError(400, f"Invalid type: {kind}", None, "type")
        if payer == "application" and dashboard in ("express", "none"):
            payer = "application_express" if dashboard == "express" else "application_custom"
        due = ["business_type", "external_account", "tos_acceptance.date", "tos_acceptance.ip"]
        return self._new(
            "acct", p, business_profile=p.get("business_profile") or {},
            business_type=p.get("business_type"),
            capabilities={k: "inactive" for k, v in (p.get("capabilities") or {}).items()
                          if _bool(v, "requested", False)},
            charges_enabled=False,
            controller={"fees": {"payer": payer}, "is_controller": True,
                        "losses": {"payments": losses}, "requirement_collection": collection,
                        "stripe_dashboard": {"type": dashboard}, "type": "application"},
            country=p.get("country", "US"), default_currency=p.get("default_currency", "usd"),
            details_submitted=False, email=p.get("email"),
            external_accounts={"object": "list", "data": [], "has_more": False,
                               "url": "/v1/accounts/external_accounts"},
            payouts_enabled=False,
            requirements={"currently_due": due, "eventually_due": due, "past_due": due,
                          "disabled_reason": "requirements.past_due", "errors": [],
                          "pending_verification": [], "current_deadline": None},
            settings=p.get("settings") or {},
            tos_acceptance={"date": None, "ip": None, "user_agent": None}, type=kind)

    def _account_update(self, p: Obj, m: Obj) -> Obj:
        acct = self._get("account", m["id"])
        before = copy.deepcopy(acct)
        for k in ("business_profile", "settings", "tos_acceptance"):
            if isinstance(p.get(k), dict):
                acct[k] = {**(acct[k] or {}), **p[k]}
        for k in ("email", "business_type", "default_currency"):
            if k in p:
                acct[k] = p[k] or None
        for name, v in (p.get("capabilities") or {}).items():
            if not _bool(v, "requested", True):
                acct["capabilities"].pop(name, None)
            elif name not in acct["capabilities"]:
                acct["capabilities"][name] = "active" if acct["details_submitted"] else "inactive"
        acct["metadata"] = _metadata(acct["metadata"], p.get("metadata"))
        if acct != before:
            self._emit("account.updated", acct, before)
        return acct

    def _account_link_create(self, p: Obj, m: Obj) -> Obj:
        acct = self._ref(p, "account", "account")
        assert acct is not None
        if p.get("type") not in ("account_onboarding", "account_update"):
            raise _missing("type") if not p.get("type") else StripeError(
                400, f"Invalid type: {p['type']}", None, "type")
        now = _now()
        return {"object": "account_link", "created": now, "expires_at": now + 300,
                "url": f"{self.url}/setup/e/{acct['id']}/{_new_id('x', 12)[2:]}"}

    # -- transfers and reversals -------------------------------------------------------------------

    def _transfer_create(self, p: Obj, m: Obj) -> Obj:
        amount = _amount(p)
        if not p.get("currency"):
            raise _missing("currency")
        dest = self._ref(p, "destination", "account", label="destination")
        assert dest is not None
        if not dest["payouts_enabled"]:
            raise StripeError(400, "Your destination account needs to have at least one of the "
                              "following capabilities enabled: transfers, crypto_transfers, "
                              "legacy_payments", "insufficient_capabilities_for_transfer",
                              "destination")
        source = self._ref(p, "source_transaction", "charge", required=False)
        tr = self._new("tr", p, amount=amount, amount_reversed=0,
                       balance_transaction=_new_id("txn"), currency=str(p["currency"]).lower(),
                       description=p.get("description"), destination=dest["id"],
                       destination_payment=_new_id("py"), reversals=None, reversed=False,
                       source_transaction=source and source["id"], source_type="card",
                       transfer_group=p.get("transfer_group"))
        tr["reversals"] = {"object": "list", "data": [], "has_more": False, "total_count": 0,
                           "url": f"/v1/transfers/{tr['id']}/reversals"}
        self._emit("transfer.created", tr)
        return tr

    def _reversal_create(self, p: Obj, m: Obj) -> Obj:
        tr = self._get("transfer", m["id"])
        left = tr["amount"] - tr["amount_reversed"]
        amount = _amount(p) if "amount" in p else left
        if left <= 0:
            raise StripeError(400, f"Transfer {tr['id']} has already been fully reversed.")
        if amount > left:
            raise StripeError(400, f"Reversal amount ({amount}) is greater than the amount left "
                              f"to reverse on transfer {tr['id']} ({left}).", None, "amount")
        if self._refuse_reversals:
            raise StripeError(400, "The connected account does not have enough balance to "
                              "reverse this transfer.", self._refuse_reversals)
        trr = self._new("trr", p, amount=amount, balance_transaction=_new_id("txn"),
                        currency=tr["currency"], destination_payment_refund=_new_id("pyr"),
                        source_refund=None, transfer=tr["id"])
        tr["amount_reversed"] += amount
        tr["reversed"] = tr["amount_reversed"] >= tr["amount"]
        tr["reversals"]["data"].insert(0, trr)
        tr["reversals"]["total_count"] += 1
        self._emit("transfer.reversed", tr)
        return trr

    def _reversal_list(self, p: Obj, m: Obj) -> Obj:
        tr = self._get("transfer", m["id"])
        return self._page_of(tr["reversals"]["data"], p, tr["reversals"]["url"])

    # -- test controls -----------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500, path_prefix: str | None = None) -> None:
        """The next `n` requests (under `path_prefix`) answer `status` with an api_error body;
        they are not applied and store no idempotent result, so a retry with the key runs."""
        with self._lock:
            self._fails.append(_Rule(n, path_prefix, status))

    def hang_next(self, seconds: float, n: int = 1, path_prefix: str | None = None) -> None:
        """The next `n` requests are applied at once but answered `seconds` later, as when
        Stripe did the work and the answer was lost: a client timeout, then a retry, replays."""
        with self._lock:
            self._hangs.append(_Rule(n, path_prefix, seconds))

    def complete_onboarding(self, account_id: str) -> None:
        with self._lock:
            acct = self._get("account", account_id)
            before = copy.deepcopy(acct)
            acct |= {"payouts_enabled": True, "charges_enabled": True, "details_submitted": True,
                     "capabilities": {k: "active" for k in acct["capabilities"]},
                     "tos_acceptance": {"date": _now(), "ip": "127.0.0.1", "user_agent": None}}
            acct["requirements"] |= {"currently_due": [], "eventually_due": [], "past_due": [],
                                     "disabled_reason": None}
            self._emit("account.updated", acct, before)

    def pay(self, invoice_id: str) -> None:
        """The customer pays an open invoice (on the hosted page): as `POST .../pay` would."""
        with self._lock:
            self._pay(self._get("invoice", invoice_id))

    def fail_payment(self, invoice_id: str) -> None:
        """A payment attempt on an open invoice is declined; the invoice stays open."""
        with self._lock:
            inv = self._get("invoice", invoice_id)
            self._in_state(inv, "open", verb="attempt payment on")
            for pay in self._payments(inv):
                pi = self._store["payment_intent"][pay["payment"]["payment_intent"]]
                charge = self._charge(pi, ok=False)
                pi |= {"latest_charge": charge["id"], "status": "requires_payment_method",
                       "last_payment_error": {"type": "card_error", "code": "card_declined",
                                              "decline_code": "generic_decline",
                                              "message": "Your card was declined.",
                                              "charge": charge["id"]}}
            inv |= {"attempted": True, "attempt_count": inv["attempt_count"] + 1}
            self._emit("invoice.payment_failed", inv)

    def refuse_reversals(self, code: str | None = "balance_insufficient") -> None:
        """From now on reversals answer 400 with `code`; `refuse_reversals(None)` stops it."""
        with self._lock:
            self._refuse_reversals = code

    def calls(self, method: str, path: str) -> list[Request]:
        """The requests made to `method path`, in order."""
        with self._lock:
            return [r for r in self.requests if (r.method, r.path) == (method, path)]

    def _snapshot(self, kind: str) -> dict[str, Obj]:
        with self._lock:
            return copy.deepcopy(self._store[kind])

    # copies, taken under the lock: assertions read them while the server keeps serving
    customers = property(lambda self: self._snapshot("customer"))
    invoices = property(lambda self: self._snapshot("invoice"))
    invoice_items = property(lambda self: self._snapshot("invoiceitem"))
    invoice_payments = property(lambda self: self._snapshot("invoice_payment"))
    payment_intents = property(lambda self: self._snapshot("payment_intent"))
    charges = property(lambda self: self._snapshot("charge"))
    refunds = property(lambda self: self._snapshot("refund"))
    accounts = property(lambda self: self._snapshot("account"))
    transfers = property(lambda self: self._snapshot("transfer"))
    reversals = property(lambda self: self._snapshot("transfer_reversal"))


@pytest.fixture
def stripe_fake() -> Iterator[StripeFake]:
    """A running StripeFake, closed after the test (import it into a conftest to use it)."""
    with StripeFake() as fake:
        yield fake
