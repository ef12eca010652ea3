"""Phone numbers for SMS: a user gives one, a 6-digit code is sent to it, and only once the code
comes back is the number confirmed and given SMS notifications (`service.sms_numbers`).

The code goes straight through the SMS backend, not the notification pipeline: it is for the
person at the keyboard now, not worth a retry minutes later. Only its hash is stored (salted
with the user and the number, so a dump of the table does not list live codes); it lasts
`CODE_TTL_S`, and `CODE_TRIES` wrong answers spend it (counted by a conditional update, so
guesses sent in parallel cannot go past the limit), after which a new one must be asked for.
Asking is limited per user and per number (`CODES_PER_WINDOW` in `CODE_WINDOW_S`), so that
nobody can make us text a stranger over and over: counted in the database (`PhoneCodeWindow`,
a window that starts with its first code), by one conditional update per key, so that neither
several API processes nor parallel requests can go past it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, literal, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from control_plane.db import UTCDateTime, utcnow
from control_plane.notifications.channels.base import ChannelBackend, Message, Refused, Transient
from control_plane.notifications.exceptions import (
    CodeExpired,
    InvalidPhoneNumber,
    PhoneNotFound,
    PhoneRefused,
    SmsUnavailable,
    TooManyCodes,
    TooManyTries,
    WrongCode,
)
from control_plane.notifications.models import PhoneCodeWindow, PhoneNumber

CODE_TTL_S = 600.0
CODE_TRIES = 5  # wrong answers per code
CODES_PER_WINDOW = 3  # codes asked for, per user and per number
CODE_WINDOW_S = 600.0
E164 = re.compile(r"^\+[1-9]\d{7,14}$")


def parse_number(number: str) -> str:
    """The number if it is in E.164 (+, country code, digits), else 422."""
    number = number.strip()
    if not E164.fullmatch(number):
        raise InvalidPhoneNumber("give the number in E.164: + and the country code, digits "
                                 "only (e.g. +33612345678)", details={"number": number[:32]})
    return number


def _hash(user_id: str, number: str, code: str) -> str:
    return hashlib.sha256(f"{user_id}:{number}:{code}".encode()).hexdigest()


def get_phone(*, session: Session, user_id: str) -> PhoneNumber:
    """The user's number, or 404."""
    found = session.get(PhoneNumber, user_id)
    if found is None:
        raise PhoneNotFound("no phone number: PUT /v1/me/phone first")
    return found


@dataclass(frozen=True)
class CodeLimits:
    """How many codes one user, and one number, may be texted per window."""

    per_window: int = CODES_PER_WINDOW
    window_s: float = CODE_WINDOW_S


def _take(session: Session, key: str, limits: CodeLimits, now: datetime) -> float | None:
    """Count one code for `key` (in the caller's transaction); None, or how long until its
    window has room again."""
    row = {"key": key, "window_started_at": now, "codes": 0}
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(PhoneCodeWindow).values(**row).on_conflict_do_nothing())
    # one statement decides: a window over starts again with this code, a window with room
    # counts it, a full one changes nothing (rowcount 0)
    over = PhoneCodeWindow.window_started_at <= now - timedelta(seconds=limits.window_s)
    counted = session.execute(update(PhoneCodeWindow).where(
        PhoneCodeWindow.key == key, over | (PhoneCodeWindow.codes < limits.per_window))
        .values(codes=case((over, 1), else_=PhoneCodeWindow.codes + 1),
                window_started_at=case((over, literal(now, UTCDateTime())),
                                       else_=PhoneCodeWindow.window_started_at))
        .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
    if counted:
        return None
    started = session.scalar(select(PhoneCodeWindow.window_started_at)
                             .where(PhoneCodeWindow.key == key))
    if started is None:
        return limits.window_s
    return max(1.0, (started + timedelta(seconds=limits.window_s) - now).total_seconds())


def request_code(*, session: Session, sms: ChannelBackend, limits: CodeLimits,
                 user_id: str, number: str) -> PhoneNumber:
    """Set the user's number (unconfirmed) and text it a new code (committed); the number
    already confirmed is left as it is, without a text."""
    number = parse_number(number)
    found = session.get(PhoneNumber, user_id)
    if found is not None and found.e164 == number and found.confirmed_at is not None:
        return found
    now = utcnow()
    for key in (f"user:{user_id}", f"number:{number}"):
        wait_s = _take(session, key, limits, now)
        if wait_s is not None:
            session.rollback()  # neither key counts a code that is not sent
            raise TooManyCodes("too many codes asked for; wait and try again",
                               details={"retry_after_s": round(wait_s, 1)},
                               headers={"Retry-After": str(max(1, round(wait_s)))})
    code = f"{secrets.randbelow(10**6):06d}"
    text = f"{code} is your ADSBIN code. It expires in {round(CODE_TTL_S / 60)} minutes."
    session.commit()  # the codes counted; no transaction is held while the provider is called
    try:
        sms.send(Message(delivery_id=f"phone-{secrets.token_hex(8)}", to=number, subject=text,
                         text=text, kind="phone.confirm", user_id=user_id))
    except Transient as exc:
        raise SmsUnavailable("the SMS could not be sent now; try again in a minute",
                             details={"reason": exc.reason[:300]}) from exc
    except Refused as exc:
        raise PhoneRefused("the SMS provider will not send to this number",
                           details={"reason": exc.reason[:300]}) from exc
    for attempt in range(2):  # a parallel ask by the same user may add the row first
        now = utcnow()
        phone = session.get(PhoneNumber, user_id)
        if phone is None:
            phone = PhoneNumber(user_id=user_id, e164=number)
            session.add(phone)
        phone.e164, phone.confirmed_at = number, None
        phone.code_hash, phone.code_expires_at = (_hash(user_id, number, code),
                                                  now + timedelta(seconds=CODE_TTL_S))
        phone.attempts, phone.sent_at = 0, now
        try:
            session.commit()
            return phone
        except IntegrityError:
            session.rollback()
            if attempt:
                raise
    raise AssertionError("unreachable")


def confirm(*, session: Session, user_id: str, code: str) -> PhoneNumber:
    """Confirm the user's number with the code sent to it (committed); 422 when wrong or
    expired, 429 once the code had its tries."""
    found = get_phone(session=session, user_id=user_id)
    if found.code_hash is None:
        if found.confirmed_at is not None:
            return found
        raise CodeExpired("no code is pending: ask for one (PUT /v1/me/phone)")
    # the try is counted before the code is looked at, so that parallel guesses cannot
    # each see a count under the limit
    counted = session.execute(update(PhoneNumber).where(
        PhoneNumber.user_id == user_id, PhoneNumber.code_hash == found.code_hash,
        PhoneNumber.attempts < CODE_TRIES).values(attempts=PhoneNumber.attempts + 1)
    ).rowcount  # type: ignore[attr-defined]
    session.commit()
    session.refresh(found)
    if not counted:
        raise TooManyTries("this code had its tries: ask for a new one (PUT /v1/me/phone)")
    if found.code_expires_at is None or found.code_expires_at < utcnow():
        raise CodeExpired("this code expired: ask for a new one (PUT /v1/me/phone)")
    expected = found.code_hash
    if expected is None or not hmac.compare_digest(
            _hash(user_id, found.e164, code.strip()), expected):
        raise WrongCode("wrong code", details={"tries_left": max(0, CODE_TRIES
                                                                 - found.attempts)})
    found.confirmed_at, found.code_hash, found.code_expires_at = utcnow(), None, None
    session.commit()
    return found


def remove(*, session: Session, user_id: str) -> None:
    """Forget the user's number (committed): no SMS any more."""
    found = session.get(PhoneNumber, user_id)
    if found is not None:
        session.delete(found)
        session.commit()
