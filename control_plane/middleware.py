"""ASGI middleware: a cap on request bodies that holds for declared and chunked bodies alike."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from control_plane.errors import error_body


class BodySizeLimit:
    """Answer 413 to any request whose body is larger than allowed for its path.

    A declared `Content-Length` over the limit is refused before a byte is read. A chunked body is
    counted as it streams; once it passes the limit the app's own answer (whatever it made of the
    truncated body) is replaced by the 413.
    """

    def __init__(self, app: ASGIApp, *, default_limit: int,
                 limits_by_prefix: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits_by_prefix = sorted((limits_by_prefix or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        """The largest body accepted on `path`."""
        for prefix, limit in self.limits_by_prefix:
            if path.startswith(prefix):
                return limit
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_413(send, limit)
            return

        state = {"received": 0, "too_large": False, "replaced": False}

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["too_large"] = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded_send(message: Message) -> None:
            if state["too_large"]:
                if message["type"] == "http.response.start" and not state["replaced"]:
                    state["replaced"] = True
                    await _send_413(send, limit)
                return
            await send(message)

        await self.app(scope, counting_receive, guarded_send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps(error_body("too_large", f"the request body is larger than {limit} bytes",
                                 {"limit_bytes": limit})).encode()
    headers: list[Any] = [(b"content-type", b"application/json"),
                          (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
