"""Coconut in the pipeline: with ADSBIN_COCONUT_API_KEY and S3 storage (moto_server), a video is
sent to (a local server speaking) Coconut's job API, and its verified notification finishes it."""

from __future__ import annotations

import threading
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient

from control_plane.app import create_app
from control_plane.media.probe import MediaInfo
from control_plane.media.transcode import FfmpegTranscoder, VideoTarget
from tests import media_samples
from tests.control_plane.media.test_coconut import API_KEY, FakeCoconut
from tests.helpers import error_code, signup, until, with_settings


@pytest.fixture
def coconut_api():
    fake = FakeCoconut()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def stack(settings, moto_s3, s3_bucket, coconut_api):
    app = create_app(with_settings(
        settings, run_worker=True, storage_url=f"s3://{s3_bucket}/prod",
        s3_endpoint_url=moto_s3, coconut_api_key=API_KEY, coconut_base_url=coconut_api.url))
    with TestClient(app) as client:
        yield app, client, coconut_api, moto_s3, s3_bucket




def _play_coconut(spec, source: Path, work: Path, moto: str, bucket: str) -> list[str]:
    """Do what Coconut would: convert the source, write each output where the job said."""
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    paths = []
    for value in spec["outputs"].values():
        paths += [item["path"] for item in (value if isinstance(value, list) else [value])]
    info = MediaInfo(kind="video", mime="video/mp4", width=320, height=240, rotation=0,
                     duration_ms=1000)
    targets = []
    for path in paths:
        name = Path(path).stem
        if name[0].isdigit():
            size, fit = name.split("-")
            w, h = size.split("x")
            targets.append(VideoTarget(int(w), int(h), fit))
    produced = {o.target.name if o.target else o.role: o.path
                for o in FfmpegTranscoder().transcode(source, info, targets, work)}
    urls = []
    for path in paths:
        key = path.lstrip("/")
        s3.upload_file(str(produced[Path(path).stem]), bucket, key)
        urls.append(f"{moto}/{bucket}/{key}")
    return urls


def test_a_video_is_converted_by_coconut(stack, tmp_path):
    _, client, coconut, moto, bucket = stack
    account = signup(client, "advertiser")
    source = media_samples.mp4(tmp_path, seconds=1.0)
    with source.open("rb") as f:
        media = client.post("/v1/media", headers=account.headers,
                            files={"file": ("clip.mp4", f)}).json()
    spec = until(lambda: coconut.received and coconut.received[0])
    assert spec["input"]["url"].startswith(moto) and "X-Amz-Signature" in spec["input"]["url"]
    job_id = next(iter(coconut.jobs))
    notify = spec["notification"]["url"].replace("http://testserver", "")

    # a forged token, and a claim the API does not back, change nothing
    forged = notify.split("token=")[0] + "token=" + "0" * 64
    r = client.post(forged, json={"event": "job.completed", "job_id": job_id})
    assert r.status_code == 403
    r = client.post(notify, json={"event": "job.completed", "job_id": job_id})
    assert r.status_code == 409 and error_code(r) == "notification_mismatch"
    assert client.get(f"/v1/media/{media['id']}",
                      headers=account.headers).json()["status"] == "processing"

    work = tmp_path / "coconut"
    work.mkdir()
    urls = _play_coconut(spec, source, work, moto, bucket)
    coconut.jobs[job_id].update(status="job.completed", outputs=[
        {"key": f"o{i}", "status": "video.encoded" if u.endswith(".mp4") else "image.created",
         "url": u} for i, u in enumerate(urls)])
    r = client.post(notify, json={"event": "job.completed", "job_id": job_id})
    assert r.status_code == 200, r.text

    def ready():
        body = client.get(f"/v1/media/{media['id']}", headers=account.headers).json()
        return body if body["status"] != "processing" else None

    body = until(ready)
    assert body["status"] == "ready", body
    names = {r["name"]: r for r in body["renditions"]}
    assert {"1920x1080-letterbox", "1080x1920-letterbox", "1280x720-letterbox", "poster",
            "thumbnail"} == set(names)
    assert names["1280x720-letterbox"]["width"] == 1280
    assert names["1280x720-letterbox"]["url"].startswith(moto)


def test_coconut_needs_s3_storage(settings, coconut_api, tmp_path):
    app = create_app(with_settings(settings, run_worker=True, coconut_api_key=API_KEY,
                                   coconut_base_url=coconut_api.url))
    with TestClient(app) as client:
        account = signup(client, "advertiser")
        with media_samples.mp4(tmp_path, seconds=1.0).open("rb") as f:
            media = client.post("/v1/media", headers=account.headers,
                                files={"file": ("clip.mp4", f)}).json()

        def done():
            body = client.get(f"/v1/media/{media['id']}", headers=account.headers).json()
            return body if body["status"] != "processing" else None

        body = until(done)
    assert body["status"] == "failed" and "ADSBIN_STORAGE_URL=s3://" in body["error"]["message"]
    assert coconut_api.received == []
