"""Coconut (coconut.co), the hosted transcoder, used instead of the local ffmpeg when
ADSBIN_COCONUT_API_KEY is set.

Coconut is asynchronous, so its interface is split in two. `submit` creates a job (API v2,
`POST /v2/jobs`, HTTP Basic with the API key as user name): Coconut fetches the source from a
signed URL, writes one MP4 per target plus `poster.jpg` and `thumbnail.jpg` under the output
prefix in our bucket, and POSTs a notification to our webhook when it is done.

The webhook URL carries an HMAC token over the media id, so a notification can be tied to a
job we created for that media. The body itself is never believed: `verify_notification` checks
the token, then asks Coconut (`GET /v2/jobs/{id}`) what state the job is really in, and refuses
a body whose final event the API does not confirm.

Outputs are named by file: `<prefix><target.name>.mp4`, `<prefix>poster.jpg`,
`<prefix>thumbnail.jpg`; the event maps those names back to the object keys Coconut reports.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

import httpx

from control_plane.media.exceptions import (
    CoconutError,
    NotificationMismatch,
    NotificationRejected,
)
from control_plane.media.probe import MediaInfo
from control_plane.media.transcode import (
    THUMBNAIL_WIDTH,
    VideoTarget,
    poster_offset_s,
    poster_size,
    unique_targets,
)

_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FITS = {"letterbox": "pad", "cover": "crop"}
_FINAL_EVENTS = {"job.completed", "job.failed"}
_TOKEN_CONTEXT = b"adsbin-coconut-notification\x00"


@dataclass(frozen=True)
class CoconutEvent:
    """A job's state as Coconut's API reports it; `outputs` maps output name -> object key."""

    job_id: str
    status: Literal["completed", "failed", "processing"]
    outputs: dict[str, str] = field(default_factory=dict)
    error: str | None = None


class CoconutTranscoder:
    """The Coconut API v2 client: create a job, then verify the notifications it sends."""

    def __init__(self, *, api_key: str, base_url: str = "https://api.coconut.co",
                 notification_url: str, webhook_secret: bytes, storage: dict[str, Any],
                 http: httpx.Client | None = None, timeout_s: float = 30) -> None:
        if not api_key or not webhook_secret:
            raise ValueError("Coconut needs an API key and a webhook secret")
        if not storage.get("service") or not storage.get("bucket"):
            raise ValueError("Coconut's storage needs at least a service and a bucket")
        self.base_url = base_url.rstrip("/")
        self.notification_url = notification_url
        self.storage = storage
        self._auth = httpx.BasicAuth(api_key, "")
        self._secret = webhook_secret
        self._owns_http = http is None
        self.http = http or httpx.Client(timeout=timeout_s)
        # Values that must never reach a log or an error message.
        creds = storage.get("credentials") or {}
        self._secrets = [api_key, *(str(v) for v in creds.values() if v)]

    def close(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns_http:
            self.http.close()

    # --- submitting ------------------------------------------------------------------------

    def job_spec(self, *, media_id: str, input_url: str, targets: list[VideoTarget],
                 output_prefix: str, info: MediaInfo | None = None) -> dict[str, Any]:
        """The JSON body of the job `submit` creates."""
        outputs: dict[str, list[dict[str, Any]]] = {}
        for target in unique_targets(targets):
            outputs.setdefault(f"mp4:{target.width}x{target.height}", []).append(
                {"path": _path(output_prefix, f"{target.name}.mp4"), "fit": _FITS[target.fit]})
        # Without the probe's display size, let Coconut keep the aspect from a 1280 width.
        poster = "jpg:{}x{}".format(*poster_size(info.width, info.height)) if info else "jpg:1280x"
        offset = round(poster_offset_s(info.duration_ms if info else None) or 1.0, 3)
        outputs.setdefault(poster, []).append(
            {"path": _path(output_prefix, "poster.jpg"), "offset": offset})
        outputs.setdefault(f"jpg:{THUMBNAIL_WIDTH}x", []).append(
            {"path": _path(output_prefix, "thumbnail.jpg"), "offset": offset})
        return {
            "input": {"url": input_url},
            "storage": self.storage,
            "notification": {"type": "http", "url": self.notification_url_for(media_id)},
            # One format used twice (1280x720 letterbox and cover) is a list under one key.
            "outputs": {k: v[0] if len(v) == 1 else v for k, v in outputs.items()},
        }

    def submit(self, *, media_id: str, input_url: str, targets: list[VideoTarget],
               output_prefix: str, info: MediaInfo | None = None) -> str:
        """Create the Coconut job for one media; returns Coconut's job id."""
        spec = self.job_spec(media_id=media_id, input_url=input_url, targets=targets,
                             output_prefix=output_prefix, info=info)
        job = self._request("POST", "/v2/jobs", json=spec)
        job_id = job.get("id")
        if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
            raise CoconutError("Coconut accepted the job but returned no usable job id")
        return job_id

    # --- notifications ---------------------------------------------------------------------

    def token_for(self, media_id: str) -> str:
        """The HMAC token that proves a notification URL was made by us for `media_id`."""
        message = _TOKEN_CONTEXT + media_id.encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def notification_url_for(self, media_id: str) -> str:
        """The webhook URL Coconut calls for this media, with `media_id` and `token` added."""
        separator = "&" if urlsplit(self.notification_url).query else "?"
        query = urlencode({"media_id": media_id, "token": self.token_for(media_id)})
        return f"{self.notification_url}{separator}{query}"

    def verify_notification(self, *, media_id: str, token: str, body: dict[str, Any],
                            job_id: str | None = None) -> CoconutEvent:
        """Check the token, then return the job's state as the API (not the body) reports it.

        `job_id`, when the caller kept the id `submit` returned, must be the job the body names.
        """
        expected = self.token_for(media_id).encode()
        if not token or not hmac.compare_digest(token.encode(), expected):
            raise NotificationRejected("the notification's token does not match this media")
        data = body.get("data")
        data = data if isinstance(data, dict) else {}
        named = body.get("job_id") or body.get("id") or data.get("id")
        if not isinstance(named, str) or not _JOB_ID.fullmatch(named):
            raise NotificationRejected("the notification names no valid job id")
        if job_id is not None and named != job_id:
            raise NotificationRejected("the notification is about another job")
        try:
            job = self.retrieve(named)
        except CoconutError as exc:
            if exc.http_status == 404:
                raise NotificationRejected("the notification names a job Coconut does not "
                                           "know") from exc
            raise
        claimed = body.get("event") or data.get("status")
        actual = job.get("status")
        if claimed in _FINAL_EVENTS and claimed != actual:
            raise NotificationMismatch(f"the notification says {claimed} but Coconut reports "
                                       f"{actual or 'no status'} for job {named}")
        return _event(named, job, str(self.storage["bucket"]))

    def retrieve(self, job_id: str) -> dict[str, Any]:
        """The job as `GET /v2/jobs/{id}` returns it."""
        if not _JOB_ID.fullmatch(job_id):
            raise ValueError(f"not a Coconut job id: {job_id!r}")
        return self._request("GET", f"/v2/jobs/{job_id}")

    # --- HTTP ------------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, json: Any = None) -> dict[str, Any]:
        host = urlsplit(self.base_url).netloc
        try:
            response = self.http.request(method, self.base_url + path, json=json,
                                         auth=self._auth, headers={"Accept": "application/json"})
        except httpx.TimeoutException as exc:
            raise CoconutError(f"Coconut ({host}) did not answer in time",
                               retryable=True) from exc
        except httpx.HTTPError as exc:
            raise CoconutError(f"could not reach Coconut at {host} ({type(exc).__name__})",
                               retryable=True) from exc
        status = response.status_code
        if status >= 400:
            raise CoconutError(self._redact(_error_message(response)), http_status=status,
                               retryable=status >= 500 or status == 429)
        try:
            payload = response.json()
        except ValueError as exc:
            raise CoconutError(f"Coconut answered HTTP {status} with a body that is not JSON",
                               http_status=status, retryable=True) from exc
        if not isinstance(payload, dict):
            raise CoconutError("Coconut answered with JSON that is not an object",
                               http_status=status, retryable=True)
        return payload

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _path(prefix: str, filename: str) -> str:
    # Coconut's paths start with "/" and are relative to the storage's bucket (and its `path`).
    return "/" + f"{prefix}{filename}".lstrip("/")


def _error_message(response: httpx.Response) -> str:
    """What went wrong, in Coconut's words when it gave any (`message`, `error_code`)."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    said = ""
    if isinstance(body, dict) and body.get("message"):
        said = f": {str(body['message'])[:200]}"
        if body.get("error_code"):
            said += f" (code={str(body['error_code'])[:50]})"
    if status in (401, 403):
        return f"Coconut refused the API key (HTTP {status}){said}; check ADSBIN_COCONUT_API_KEY"
    if status >= 500:
        return f"Coconut is failing (HTTP {status}){said}; try again later"
    return f"Coconut refused the request (HTTP {status}){said}"


def _event(job_id: str, job: dict[str, Any], bucket: str) -> CoconutEvent:
    """The job as a `CoconutEvent`: final state, finished outputs by name, and any errors."""
    status: Literal["completed", "failed", "processing"] = (
        "completed" if job.get("status") == "job.completed"
        else "failed" if job.get("status") == "job.failed" else "processing")
    outputs: dict[str, str] = {}
    problems: list[str] = []
    items = job.get("outputs")
    items = items if isinstance(items, list) else []
    for item in (i for i in items if isinstance(i, dict)):
        if str(item.get("status", "")).endswith(".failed"):
            problems.append(f"{item.get('key', 'an output')}: {item.get('error') or 'failed'}")
            continue
        urls = item.get("urls")
        urls = urls if isinstance(urls, list) else [item.get("url")]
        for url in (u for u in urls if isinstance(u, str)):
            key = _object_key(url, bucket)
            outputs[PurePosixPath(key).stem] = key
    errors = job.get("errors")
    if isinstance(errors, dict):
        problems += [f"{k}: {v}" for k, v in errors.items()]
    elif isinstance(errors, list):
        problems += [str(e) for e in errors]
    elif errors:
        problems.append(str(errors))
    if status == "failed" and not problems:
        problems.append("Coconut reported the job as failed")
    error = "; ".join(problems)[:500] or None
    return CoconutEvent(job_id=job_id, status=status, outputs=outputs, error=error)


def _object_key(url: str, bucket: str) -> str:
    """The object key in an output URL: s3://bucket/key, or https with the bucket in the host
    (virtual-hosted) or as the first path segment (path-style, S3-compatible endpoints)."""
    parts = urlsplit(url)
    key = parts.path.lstrip("/")
    if parts.scheme != "s3" and key.startswith(f"{bucket}/") \
            and not parts.netloc.startswith(f"{bucket}."):
        key = key[len(bucket) + 1:]
    return key
