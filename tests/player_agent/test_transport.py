"""The agent's HTTP on http.client, against real local servers: kept-alive connections (and one
the server closed meanwhile, sent again), redirects that drop the token when they leave the
origin, a proxy from the environment, and no answer as TransportError."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from player_agent.transport import Client, TransportError


@contextmanager
def server(answer: Any) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An HTTP/1.1 server calling `answer(handler)` per request; its URL and what it saw."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen.append({"line": self.requestline, "path": self.path,
                         "port": self.client_address[1], "auth": self.headers.get("Authorization"),
                         "body": self.rfile.read(length) if length else b""})
            answer(self)

        do_POST = do_PUT = do_GET

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def ok(handler: BaseHTTPRequestHandler, body: bytes = b'{"ok": true}', *,
       close: bool = False) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
    if close:  # without saying so: the client finds out on its next request
        handler.close_connection = True


def client(**kwargs: Any) -> Client:
    return Client(connect_timeout_s=2, read_timeout_s=kwargs.pop("read_timeout_s", 5), **kwargs)


def test_connections_are_kept_alive_and_one_the_server_closed_is_replaced():
    with server(lambda h: ok(h, close=h.path == "/then-close")) as (url, seen):
        http = client()
        assert http.request("GET", url + "/a").json() == {"ok": True}
        assert http.request("GET", url + "/then-close").status_code == 200
        time.sleep(0.2)  # the server has closed that connection by now
        answer = http.request("POST", url + "/b", json_body={"n": 1})
        assert answer.status_code == 200 and seen[-1]["body"] == b'{"n":1}'
        http.close()
    ports = [s["port"] for s in seen]
    assert ports[0] == ports[1] != ports[2]  # kept alive, then a new connection for the third


def test_a_redirect_keeps_the_token_on_its_origin_and_drops_it_elsewhere():
    with server(lambda h: ok(h, b"stored")) as (elsewhere, seen_there):
        def answer(h: BaseHTTPRequestHandler) -> None:
            if h.path.startswith("/go"):
                h.send_response(302)
                h.send_header("Location", "/here" if h.path == "/go-here" else elsewhere + "/s3")
                h.send_header("Content-Length", "0")
                h.end_headers()
            else:
                ok(h, b"here")

        with server(answer) as (url, seen):
            http = client(headers={"User-Agent": "adsbin-agent"})
            token = {"Authorization": "Bearer device-token"}
            assert http.request("GET", url + "/go-here", headers=token).content == b"here"
            assert seen[-1]["path"] == "/here" and seen[-1]["auth"] == "Bearer device-token"
            with http.stream("GET", url + "/go-away", headers=token) as streamed:
                assert b"".join(streamed.iter_bytes(2)) == b"stored"
            assert seen_there[-1]["path"] == "/s3" and seen_there[-1]["auth"] is None


def test_a_plain_http_proxy_from_the_environment_gets_the_whole_url(monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with server(lambda h: ok(h, b"via proxy")) as (proxy, through), \
            server(lambda h: ok(h, b"direct")) as (url, direct):
        monkeypatch.setenv("http_proxy", proxy)
        answer = client().request("GET", url + "/v1/device/time?x=1")
        assert answer.content == b"via proxy" and not direct
        assert through[-1]["line"] == f"GET {url}/v1/device/time?x=1 HTTP/1.1"
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        assert client().request("GET", url + "/v1/device/time").content == b"direct"
        assert direct[-1]["line"] == "GET /v1/device/time HTTP/1.1" and len(through) == 1


def test_no_answer_is_a_transport_error():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens there once closed
    with pytest.raises(TransportError):
        client().request("GET", f"http://127.0.0.1:{port}/")
    with server(lambda h: time.sleep(1.5)) as (url, _):  # answers nothing in time
        started = time.monotonic()
        with pytest.raises(TransportError):
            client(read_timeout_s=0.3).request("GET", url + "/slow")
        assert time.monotonic() - started < 1.2
