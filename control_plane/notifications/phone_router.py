"""HTTP routes of my phone number for SMS: give it (a code is texted to it), confirm it with
the code, read it, forget it (`phones.py`)."""

from __future__ import annotations

from fastapi import APIRouter

from control_plane.auth.dependencies import CurrentUser
from control_plane.db import DbSession
from control_plane.notifications import phones
from control_plane.notifications.dependencies import CodeLimiter, SmsBackend
from control_plane.notifications.models import PhoneNumber
from control_plane.notifications.schemas import PhoneConfirmIn, PhoneIn, PhoneRead

router = APIRouter(prefix="/v1/me/phone", tags=["notifications"])


def make_limiter() -> phones.CodeLimits:
    """The limits of codes asked for, one per app (`app.py`); the counts are in the
    database, shared by every process."""
    return phones.CodeLimits()


def _user_id(principal: CurrentUser) -> str:
    assert principal.user_id is not None
    return principal.user_id


def _read(found: PhoneNumber) -> PhoneRead:
    return PhoneRead(number=found.e164, confirmed=found.confirmed_at is not None,
                     confirmed_at=found.confirmed_at, code_sent_at=found.sent_at,
                     code_expires_at=found.code_expires_at)


@router.get("", response_model=PhoneRead, summary="My phone number for SMS",
            responses={404: {"description": "phone_not_found"}})
def get_phone(session: DbSession, principal: CurrentUser) -> PhoneRead:
    return _read(phones.get_phone(session=session, user_id=_user_id(principal)))


@router.put("", response_model=PhoneRead,
            summary="Give my phone number (E.164): a 6-digit code is texted to it",
            description="The number gets SMS once confirmed with the code (POST "
                        "/v1/me/phone/confirm) within 10 minutes. A number already confirmed "
                        "is left as it is. At most 3 codes per 10 minutes, per user and per "
                        "number (429).",
            responses={422: {"description": "invalid_phone_number, phone_refused"},
                       429: {"description": "rate_limited"},
                       503: {"description": "sms_unavailable"}})
def put_phone(body: PhoneIn, session: DbSession, principal: CurrentUser, sms: SmsBackend,
              limiter: CodeLimiter) -> PhoneRead:
    return _read(phones.request_code(session=session, sms=sms, limits=limiter,
                                     user_id=_user_id(principal), number=body.number))


@router.post("/confirm", response_model=PhoneRead, summary="Confirm my number with its code",
             description="5 tries per code; after them the code is spent (429) and a new one "
                         "must be asked for.",
             responses={404: {"description": "phone_not_found"},
                        422: {"description": "wrong_code, code_expired"},
                        429: {"description": "too_many_attempts"}})
def confirm_phone(body: PhoneConfirmIn, session: DbSession,
                  principal: CurrentUser) -> PhoneRead:
    return _read(phones.confirm(session=session, user_id=_user_id(principal), code=body.code))


@router.delete("", status_code=204, summary="Forget my phone number: no SMS any more")
def delete_phone(session: DbSession, principal: CurrentUser) -> None:
    phones.remove(session=session, user_id=_user_id(principal))
