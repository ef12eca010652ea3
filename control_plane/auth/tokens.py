"""Access tokens: issued by the built-in issuer, verified on one path for every trusted issuer.

Our own tokens and Clerk's session tokens are both RS256 JWTs checked the same way: the `kid` is
looked up through a PyJWT `PyJWKClient` (our own key ring stands behind a client that reads it in
memory; Clerk's JWKS is fetched over HTTP and cached, with PyJWT's cooldown so a flood of unknown
`kid`s cannot hammer Clerk), then signature, issuer, `exp`/`nbf`/`iat` with a small leeway and the
authorized party are checked. Nothing but RS256 is ever accepted.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt import PyJWKClient
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError

from control_plane.auth.exceptions import InvalidToken, IssuerUnavailable
from control_plane.auth.keys import KeyRing
from control_plane.settings import Settings

ALGORITHM = "RS256"
LOCAL_JWKS_URI = "http://adsbin.invalid/.well-known/jwks.json"  # never fetched
LOCAL_JWKS_LIFESPAN_S = 5.0  # a retired local key stops verifying within this long


class LocalJWKClient(PyJWKClient):
    """A `PyJWKClient` whose "endpoint" is our own key ring, read in memory (the URI is never
    fetched: `fetch_data` is overridden)."""

    def __init__(self, keyring: KeyRing) -> None:
        super().__init__(LOCAL_JWKS_URI, cache_jwk_set=True, lifespan=LOCAL_JWKS_LIFESPAN_S,
                         cooldown_duration=0)
        self.keyring = keyring

    def fetch_data(self) -> Any:
        self.keyring.reload()
        data = self.keyring.jwks()
        if self.jwk_set_cache is not None:
            self.jwk_set_cache.put(data)
        self._last_successful_fetch = time.monotonic()
        return data


@dataclass(frozen=True)
class TrustedIssuer:
    """An issuer whose tokens we accept, and where its keys come from."""

    name: str  # "adsbin" or "clerk"
    issuer: str
    jwks: PyJWKClient
    authorized_parties: tuple[str, ...] = ()


@dataclass(frozen=True)
class VerifiedToken:
    """The facts of a verified token, with Clerk's v1 and v2 organisation claims folded in."""

    issuer: str  # which TrustedIssuer: "adsbin" or "clerk"
    subject: str
    org_id: str | None
    org_role: str | None
    org_slug: str | None
    claims: dict[str, Any] = field(repr=False)


def _normalize_role(role: Any) -> str | None:
    # Clerk's v1 tokens say "org:admin", v2's `o.rol` says "admin".
    if not isinstance(role, str) or not role:
        return None
    return role.removeprefix("org:")


def organisation_claims(claims: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(org id, role, slug) from Clerk's v2 `o` object, else its v1 `org_*` claims."""
    o = claims.get("o")
    if isinstance(o, dict) and o.get("id"):
        return str(o["id"]), _normalize_role(o.get("rol")), o.get("slg")
    org_id = claims.get("org_id")
    return (str(org_id) if org_id else None, _normalize_role(claims.get("org_role")),
            claims.get("org_slug"))


class TokenService:
    """Issues our own access tokens and verifies any trusted issuer's."""

    def __init__(self, settings: Settings, keyring: KeyRing) -> None:
        self.settings = settings
        self.keyring = keyring
        parties = tuple(settings.authorized_parties) or (settings.public_url,)
        issuers = [TrustedIssuer("adsbin", settings.issuer, LocalJWKClient(keyring), parties)]
        if settings.clerk_issuer:
            jwks_url = settings.clerk_jwks_url or (
                settings.clerk_issuer.rstrip("/") + "/.well-known/jwks.json")
            issuers.append(TrustedIssuer(
                "clerk", settings.clerk_issuer,
                PyJWKClient(jwks_url, cache_jwk_set=True, lifespan=300, timeout=5,
                            cooldown_duration=settings.jwks_refetch_cooldown_s),
                tuple(settings.authorized_parties)))
        self.issuers = {i.issuer: i for i in issuers}

    def issue(self, *, user_id: str, org_id: str | None, org_role: str | None) -> tuple[str, int]:
        """A signed access token for a user acting in an org, and its lifetime in seconds."""
        now = int(time.time())
        ttl = self.settings.access_token_ttl_s
        claims: dict[str, Any] = {
            "iss": self.settings.issuer, "sub": user_id, "iat": now, "nbf": now,
            "exp": now + ttl, "azp": self.settings.public_url, "jti": secrets.token_urlsafe(12),
            "v": 2,
        }
        if org_id:
            claims.update({"org_id": org_id, "org_role": f"org:{org_role}",
                           "o": {"id": org_id, "rol": org_role}})
        key = self.keyring.current
        token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM,
                           headers={"kid": key.kid, "typ": "JWT"})
        return token, ttl

    def verify(self, token: str) -> VerifiedToken:
        """The verified facts of `token`, or `InvalidToken` saying why not."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise InvalidToken("the token is not a well-formed JWT") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(f"only {ALGORITHM} tokens are accepted")
        trusted = self.issuers.get(str(unverified.get("iss")))
        if trusted is None:
            raise InvalidToken("the token's issuer is not trusted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no signing key (kid)")
        try:
            signing_key = trusted.jwks.get_signing_key(kid)
        except PyJWKClientConnectionError as exc:
            raise IssuerUnavailable(f"the keys of {trusted.name} cannot be fetched") from exc
        except PyJWKClientError as exc:
            raise InvalidToken("the token's signing key is unknown") from exc
        try:
            claims: dict[str, Any] = jwt.decode(
                token, signing_key.key, algorithms=[ALGORITHM], issuer=trusted.issuer,
                leeway=self.settings.token_leeway_s,
                options={"require": ["exp", "iat", "iss", "sub"], "verify_aud": False})
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the token has expired", code="token_expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidToken("the token is not valid yet") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"the token does not verify: {exc}") from exc
        azp = claims.get("azp")
        if trusted.authorized_parties and azp is not None and azp not in trusted.authorized_parties:
            raise InvalidToken("the token was issued for another party (azp)")
        org_id, org_role, org_slug = organisation_claims(claims)
        return VerifiedToken(trusted.name, str(claims["sub"]), org_id, org_role, org_slug, claims)
