"""CoconutTranscoder against a local server that speaks Coconut's v2 job API over a socket.

The fake checks what the real API would refuse (Basic auth with the key as user name and an
empty password, the job's shape) and serves `GET /v2/jobs/{id}` with a state the test sets.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from control_plane.media.coconut import CoconutEvent, CoconutTranscoder
from control_plane.media.exceptions import (
    CoconutError,
    NotificationMismatch,
    NotificationRejected,
    TranscodeFailed,
)
from control_plane.media.probe import MediaInfo
from control_plane.media.transcode import VideoTarget
from tests.live import free_port

API_KEY = "k-test-" + secrets.token_hex(8)
SECRET_KEY = "aws-secret-" + secrets.token_hex(8)
WEBHOOK = "https://adsbin.example/v1/webhooks/coconut"
STORAGE = {"service": "s3", "bucket": "adsbin-media", "region": "eu-west-1",
           "credentials": {"access_key_id": "AKIATEST", "secret_access_key": SECRET_KEY}}
TARGETS = [VideoTarget(1280, 720, "letterbox"), VideoTarget(1280, 720, "cover"),
           VideoTarget(720, 1280, "letterbox")]
PREFIX = "media/ab12/"


class FakeCoconut:
    """Coconut's v2 job API, as much of it as the client uses."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.received: list[dict[str, Any]] = []
        self.fail_with: int | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                expected = "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()
                if self.headers.get("Authorization") == expected:
                    return True
                self._send(401, {"error_code": "authentication_failed",
                                 "message": "Authentication failed, check your API key"})
                return False

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if outer.fail_with:
                    return self._send(outer.fail_with, {"message": "Internal error"})
                if self.path != "/v2/jobs":
                    return self._send(404, {"message": "Not found"})
                if not self._authorized():
                    return None
                problem = _job_problem(body)
                if problem:
                    return self._send(400, {"error_code": "job_not_valid", "message": problem})
                outer.received.append(body)
                job_id = secrets.token_urlsafe(10).replace("-", "x").replace("_", "y")
                outer.jobs[job_id] = {"id": job_id, "status": "job.starting", "progress": "0%",
                                      "created_at": "2024-01-02T03:04:05Z",
                                      "input": {"status": "input.starting"}, "outputs": []}
                return self._send(201, outer.jobs[job_id])

            def do_GET(self) -> None:
                if outer.fail_with:
                    return self._send(outer.fail_with, {"message": "Internal error"})
                if not self._authorized():
                    return None
                job = outer.jobs.get(self.path.removeprefix("/v2/jobs/"))
                return self._send(200, job) if job else self._send(404, {
                    "error_code": "job_not_found", "message": "Job not found"})

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def complete(self, job_id: str, names: list[str]) -> None:
        """Mark a job done, its outputs written to the bucket (virtual-hosted S3 URLs)."""
        base = "https://adsbin-media.s3.eu-west-1.amazonaws.com/"
        self.jobs[job_id].update(status="job.completed", progress="100%", outputs=[
            {"key": f"out{i}", "type": "video" if n.endswith("mp4") else "image",
             "status": "video.encoded" if n.endswith("mp4") else "image.created",
             **({"url": base + PREFIX + n} if n.endswith("mp4")
                else {"urls": [base + PREFIX + n]})}
            for i, n in enumerate(names)])


def _job_problem(job: Any) -> str | None:
    """Why Coconut would refuse this job body, or None."""
    if not isinstance(job, dict) or not isinstance(job.get("input", {}).get("url"), str):
        return "input.url is required"
    storage = job.get("storage") or {}
    if storage.get("service") != "s3" or not storage.get("bucket"):
        return "storage is not valid"
    notification = job.get("notification") or {}
    if notification.get("type") != "http" or not str(notification.get("url")).startswith("http"):
        return "notification is not valid"
    outputs = job.get("outputs")
    if not isinstance(outputs, dict) or not outputs:
        return "outputs are required"
    for key, value in outputs.items():
        items = value if isinstance(value, list) else [value]
        if ":" not in key or not all(isinstance(i, dict) and i.get("path") for i in items):
            return f"output {key} is not valid"
    return None


@pytest.fixture
def coconut() -> Iterator[FakeCoconut]:
    fake = FakeCoconut()
    # A short poll interval: shutdown() waits for it, once per test.
    thread = threading.Thread(target=fake.server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def _client(base_url: str, http: httpx.Client, api_key: str = API_KEY) -> CoconutTranscoder:
    return CoconutTranscoder(api_key=api_key, base_url=base_url, notification_url=WEBHOOK,
                             webhook_secret=b"webhook-secret", storage=STORAGE, http=http)


def _submit(client: CoconutTranscoder, info: MediaInfo | None = None) -> str:
    return client.submit(media_id="med_1", input_url="https://adsbin.example/o/original?sig=x",
                         targets=TARGETS, output_prefix=PREFIX, info=info)


# --- submitting ----------------------------------------------------------------------------

def test_submit_sends_the_job_and_returns_its_id(coconut, http):
    client = _client(coconut.url, http)
    info = MediaInfo(kind="video", mime="video/mp4", width=3840, height=2160, rotation=0,
                     duration_ms=30_000)
    job_id = _submit(client, info)
    assert job_id in coconut.jobs
    (job,) = coconut.received
    assert job["input"] == {"url": "https://adsbin.example/o/original?sig=x"}
    assert job["storage"] == STORAGE
    assert job["outputs"] == {
        "mp4:1280x720": [{"path": "/media/ab12/1280x720-letterbox.mp4", "fit": "pad"},
                         {"path": "/media/ab12/1280x720-cover.mp4", "fit": "crop"}],
        "mp4:720x1280": {"path": "/media/ab12/720x1280-letterbox.mp4", "fit": "pad"},
        "jpg:1920x1080": {"path": "/media/ab12/poster.jpg", "offset": 1.0},
        "jpg:320x": {"path": "/media/ab12/thumbnail.jpg", "offset": 1.0},
    }
    notification = job["notification"]
    assert notification["type"] == "http"
    url = urlsplit(notification["url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == WEBHOOK
    query = parse_qs(url.query)
    assert query["media_id"] == ["med_1"]
    assert query["token"] == [client.token_for("med_1")]
    assert client.token_for("med_1") != client.token_for("med_2")


def test_a_wrong_api_key_is_a_clear_error_without_the_key(coconut, http):
    wrong = "k-wrong-" + secrets.token_hex(8)
    with pytest.raises(CoconutError) as caught:
        _submit(_client(coconut.url, http, api_key=wrong))
    exc = caught.value
    assert isinstance(exc, TranscodeFailed)
    assert (exc.status_code, exc.http_status, exc.retryable) == (502, 401, False)
    assert "refused the API key" in exc.message and "ADSBIN_COCONUT_API_KEY" in exc.message
    assert wrong not in exc.message and API_KEY not in exc.message
    assert coconut.received == []


def test_a_server_error_is_retryable_and_says_so(coconut, http):
    coconut.fail_with = 500
    with pytest.raises(CoconutError) as caught:
        _submit(_client(coconut.url, http))
    exc = caught.value
    assert (exc.http_status, exc.retryable) == (500, True)
    assert exc.message == "Coconut is failing (HTTP 500): Internal error; try again later"
    assert SECRET_KEY not in str(exc.details) + exc.message


def test_a_refused_connection_is_retryable_and_says_so(http):
    port = free_port()
    with pytest.raises(CoconutError) as caught:
        _submit(_client(f"http://127.0.0.1:{port}", http))
    exc = caught.value
    assert exc.retryable and exc.http_status is None
    assert exc.message == f"could not reach Coconut at 127.0.0.1:{port} (ConnectError)"


def test_storage_must_name_a_bucket():
    with pytest.raises(ValueError, match="bucket"):
        CoconutTranscoder(api_key=API_KEY, notification_url=WEBHOOK, webhook_secret=b"s",
                          storage={"service": "s3"})


# --- notifications -------------------------------------------------------------------------

def _body(job_id: str, event: str = "job.completed") -> dict[str, Any]:
    return {"job_id": job_id, "event": event, "data": {"id": job_id}}


def test_a_good_notification_is_confirmed_by_the_api(coconut, http):
    client = _client(coconut.url, http)
    job_id = _submit(client)
    names = ["1280x720-letterbox.mp4", "1280x720-cover.mp4", "720x1280-letterbox.mp4",
             "poster.jpg", "thumbnail.jpg"]
    coconut.complete(job_id, names)
    event = client.verify_notification(media_id="med_1", token=client.token_for("med_1"),
                                       body=_body(job_id), job_id=job_id)
    assert event == CoconutEvent(job_id=job_id, status="completed", outputs={
        n.rsplit(".", 1)[0]: PREFIX + n for n in names}, error=None)


def test_an_early_event_reports_what_the_api_says(coconut, http):
    client = _client(coconut.url, http)
    job_id = _submit(client)
    event = client.verify_notification(media_id="med_1", token=client.token_for("med_1"),
                                       body=_body(job_id, "output.completed"))
    assert (event.status, event.outputs, event.error) == ("processing", {}, None)


def test_a_failed_job_carries_coconuts_error(coconut, http):
    client = _client(coconut.url, http)
    job_id = _submit(client)
    coconut.jobs[job_id].update(status="job.failed",
                                errors={"input": "the source URL answered 403"})
    event = client.verify_notification(media_id="med_1", token=client.token_for("med_1"),
                                       body=_body(job_id, "job.failed"))
    assert (event.status, event.error) == ("failed", "input: the source URL answered 403")


@pytest.mark.parametrize("token", ["", "0" * 64, "not-even-hex-é"])
def test_a_bad_token_is_refused_before_any_request(coconut, http, token):
    client = _client(coconut.url, http)
    job_id = _submit(client)
    coconut.fail_with = 500  # a GET would now fail differently: none must be made
    with pytest.raises(NotificationRejected) as caught:
        client.verify_notification(media_id="med_1", token=token, body=_body(job_id))
    assert (caught.value.status_code, caught.value.code) == (403, "invalid_notification")


def test_a_token_for_another_media_is_refused(coconut, http):
    client = _client(coconut.url, http)
    job_id = _submit(client)
    with pytest.raises(NotificationRejected):
        client.verify_notification(media_id="med_1", token=client.token_for("med_2"),
                                   body=_body(job_id))


def test_a_claimed_completion_the_api_denies_is_refused(coconut, http):
    client = _client(coconut.url, http)
    job_id = _submit(client)  # still job.starting on the API
    with pytest.raises(NotificationMismatch) as caught:
        client.verify_notification(media_id="med_1", token=client.token_for("med_1"),
                                   body=_body(job_id))
    assert caught.value.status_code == 409
    assert "says job.completed but Coconut reports job.starting" in caught.value.message


def test_a_body_naming_another_or_unknown_job_is_refused(coconut, http):
    client = _client(coconut.url, http)
    job_id = _submit(client)
    token = client.token_for("med_1")
    with pytest.raises(NotificationRejected, match="another job"):
        client.verify_notification(media_id="med_1", token=token, body=_body("someOtherJob"),
                                   job_id=job_id)
    with pytest.raises(NotificationRejected, match="does not know"):
        client.verify_notification(media_id="med_1", token=token, body=_body("unknownJob"))
    with pytest.raises(NotificationRejected, match="no valid job id"):
        client.verify_notification(media_id="med_1", token=token, body=_body("../v2/jobs"))
