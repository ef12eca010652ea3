"""SMS through Twilio's official SDK: the notification's title and its link, to an E.164 number.

Twilio answers a created message with its SID, which becomes the delivery's
`provider_message_id`; with `status_callback` Twilio later reports to our webhook whether it
arrived (`webhooks_twilio.py`). Twilio takes no idempotency key for messages, so the channel is
not `idempotent`: a send a dead worker may have made is never repeated. Its errors are translated
here: 5xx, 429 and network failures may pass (`Transient`), any other 4xx is a refusal
(`Refused`: an invalid or unreachable number, a number that replied STOP). The SDK's
`TwilioRestException` drops the response's headers, so the HTTP client keeps each thread's last
response (`_RecordingClient`), from which a 429's or 503's Retry-After is read.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from control_plane.notifications.channels.base import (
    Message,
    Refused,
    Transient,
    retry_after_s,
)

TIMEOUT_S = 10.0  # per request to Twilio; a send that takes longer is tried again later
MAX_CHARS = 1600  # Twilio refuses longer bodies (error 21617)
STATUS_PATH = "/v1/webhooks/twilio/status"  # where Twilio reports (`webhooks_twilio.py`)


class _RecordingClient(TwilioHttpClient):  # type: ignore[misc]
    """Twilio's HTTP client, keeping the last response of each thread (its headers)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(timeout=timeout_s)
        self._local = threading.local()

    def request(self, *args: Any, **kwargs: Any) -> Response:
        self._local.response = None
        response = super().request(*args, **kwargs)
        self._local.response = response
        return response

    def last_headers(self) -> Mapping[str, str] | None:
        """The headers of this thread's last response, if it got one."""
        response = getattr(self._local, "response", None)
        return getattr(response, "headers", None) if response is not None else None


class TwilioChannel:
    """Sends SMS with Twilio's Messages API."""

    name = "twilio"
    idempotent = False

    def __init__(self, *, account_sid: str, auth_token: str, from_: str,
                 api_base: str | None = None, status_callback: str | None = None,
                 timeout_s: float = TIMEOUT_S) -> None:
        # edge/region only rewrite *.twilio.com hosts: another API (a test's fake) is named
        # by the base URL of the Api domain itself
        self.http = _RecordingClient(timeout_s)
        self.client = Client(account_sid, auth_token, http_client=self.http)
        if api_base:
            self.client.api.base_url = api_base.rstrip("/")
        self.from_ = from_
        self.status_callback = status_callback

    def send(self, message: Message) -> str:
        """Text the message; its SID."""
        body = message.subject + (f"\n{message.link}" if message.link else "")
        sender: dict[str, Any] = ({"messaging_service_sid": self.from_}
                                  if self.from_.startswith("MG") else {"from_": self.from_})
        try:
            created = self.client.messages.create(
                to=message.to, body=body[:MAX_CHARS], status_callback=self.status_callback,
                **sender)
        except TwilioException as exc:  # TwilioRestException, TwilioServiceException
            status = int(getattr(exc, "status", 0) or 0)
            reason = f"twilio {status}: {_describe(exc)}"
            if status >= 500 or status == 429 or status == 0:
                raise Transient(reason, retry_after_s=retry_after_s(self.http.last_headers())
                                ) from exc
            raise Refused(reason) from exc
        except OSError as exc:  # requests' timeouts and connection errors are OSErrors
            raise Transient(f"twilio unreachable: {type(exc).__name__}: {exc}") from exc
        return str(created.sid)


def _describe(exc: TwilioException) -> str:
    code = getattr(exc, "code", None)
    text = getattr(exc, "msg", None) or getattr(exc, "detail", None) \
        or getattr(exc, "title", None) or str(exc)
    return f"{text} (error {code})" if code else str(text)
