"""Uploads through the API: validated before anything is stored, stored once, processed by the
queue into renditions; rejected files leave nothing behind; media is invisible to other orgs."""

from __future__ import annotations

import io
import time

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from control_plane.app import create_app
from tests import media_samples
from tests.helpers import bearer, error_code, signup, with_settings


@pytest.fixture
def api(settings):
    """A client of an app whose embedded worker processes media jobs."""
    app = create_app(with_settings(settings, run_worker=True, max_image_bytes=3_000_000))
    with TestClient(app) as client:
        yield app, client


def _upload(client, account, path, **form):
    with path.open("rb") as f:
        return client.post("/v1/media", headers=account.headers,
                           files={"file": (path.name, f)}, data=form)


def _wait_ready(client, account, media_id, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.get(f"/v1/media/{media_id}", headers=account.headers).json()
        # the worker records the job's outcome just after the handler's own commit
        if body["status"] != "processing" and (body.get("job") or {}).get("status") not in (
                "queued", "running"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"media {media_id} still processing: {body}")


def _fetch_image(client, url):
    r = client.get(url)
    assert r.status_code == 200
    return Image.open(io.BytesIO(r.content))


def _nothing_stored(app):
    store = app.state.object_store
    assert [o.key for o in store.list("media/")] == []
    assert [o.key for o in store.list("uploads/")] == []
    tmp = app.state.settings.data_dir / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []


def test_png_upload_becomes_ready_with_renditions(api, tmp_path):
    _, client = api
    account = signup(client, "advertiser")
    r = _upload(client, account, media_samples.png(tmp_path, size=(640, 360)))
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["kind"], body["mime"], body["status"]) == ("image", "image/png", "processing")
    assert body["metadata"]["width"] == 640 and body["metadata"]["height"] == 360
    ready = _wait_ready(client, account, body["id"])
    assert ready["status"] == "ready" and ready["error"] is None, ready
    assert ready["job"]["status"] == "succeeded"
    by_name = {r["name"]: r for r in ready["renditions"]}
    assert set(by_name) == {"1920x1080-letterbox", "1080x1920-letterbox",
                            "1280x720-letterbox", "thumbnail"}
    for name, rendition in by_name.items():
        image = _fetch_image(client, rendition["url"])
        assert image.size == (rendition["width"], rendition["height"]), name
    assert by_name["1080x1920-letterbox"]["width"] == 1080
    assert by_name["thumbnail"]["width"] == 320


def test_exif_rotation_is_applied_and_metadata_stripped(api, tmp_path):
    _, client = api
    account = signup(client, "advertiser")
    r = _upload(client, account, media_samples.jpeg_with_exif_rotation(tmp_path), fit="cover")
    body = r.json()
    assert body["metadata"]["rotation"] == 90
    assert (body["metadata"]["width"], body["metadata"]["height"]) == (360, 640)
    ready = _wait_ready(client, account, body["id"])
    thumb = next(r for r in ready["renditions"] if r["name"] == "thumbnail")
    image = _fetch_image(client, thumb["url"])
    assert image.size == (320, round(640 * 320 / 360))  # portrait: the rotation was applied
    assert not image.getexif() and "icc_profile" not in image.info
    portrait = next(r for r in ready["renditions"] if r["name"] == "1080x1920-cover")
    assert _fetch_image(client, portrait["url"]).getexif() == {}


def test_same_bytes_are_stored_once(api, tmp_path):
    app, client = api
    first_org = signup(client, "advertiser")
    second_org = signup(client, "venue")
    path = media_samples.png(tmp_path)
    one = _upload(client, first_org, path)
    again = _upload(client, first_org, path)
    assert one.status_code == 201 and again.status_code == 200
    assert one.json()["id"] == again.json()["id"]
    other = _upload(client, second_org, path)
    assert other.status_code == 201 and other.json()["id"] != one.json()["id"]
    sha = one.json()["sha256"]
    originals = [o.key for o in app.state.object_store.list("media/") if
                 o.key.endswith("/original")]
    assert originals == [f"media/{sha}/original"]


@pytest.mark.parametrize(("sample", "status", "code"), [
    ("corrupt_png", 422, "corrupt_media"),
    ("text_named_mp4", 415, "unsupported_media"),
    ("decompression_bomb", 413, "too_large"),
    ("empty", 422, "empty_media"),
])
def test_bad_files_are_refused_and_leave_nothing(api, tmp_path, sample, status, code):
    app, client = api
    account = signup(client, "advertiser")
    r = _upload(client, account, getattr(media_samples, sample)(tmp_path))
    assert r.status_code == status and error_code(r) == code, r.text
    assert client.get("/v1/media", headers=account.headers).json()["items"] == []
    _nothing_stored(app)


def test_oversize_upload_is_413(api, tmp_path):
    app, client = api
    account = signup(client, "advertiser")
    big = media_samples.png(tmp_path, size=(3000, 3000))
    noise = tmp_path / "noise.png"
    Image.effect_noise((1800, 1800), 80).convert("RGB").save(noise)  # ~10 MB, incompressible
    assert noise.stat().st_size > 3_000_000 or big.stat().st_size > 3_000_000
    r = _upload(client, account, noise)
    assert r.status_code == 413 and error_code(r) == "too_large"
    _nothing_stored(app)


def test_direct_upload_through_a_signed_url(api, tmp_path):
    app, client = api
    account = signup(client, "venue")
    ticket = client.post("/v1/media/uploads", headers=account.headers,
                         json={"filename": "house.png", "content_type": "image/png"}).json()
    data = media_samples.png(tmp_path).read_bytes()
    r = client.put(ticket["url"], content=data, headers=ticket["headers"])
    assert r.status_code == 201, r.text
    done = client.post(f"/v1/media/uploads/{ticket['upload_id']}/complete",
                       headers=account.headers, json={"filename": "house.png"})
    assert done.status_code == 201, done.text
    assert done.json()["filename"] == "house.png"
    assert _wait_ready(client, account, done.json()["id"])["status"] == "ready"
    again = client.post(f"/v1/media/uploads/{ticket['upload_id']}/complete",
                        headers=account.headers, json={})
    assert again.status_code == 404 and error_code(again) == "upload_not_found"
    assert [o.key for o in app.state.object_store.list("uploads/")] == []


def test_direct_upload_of_a_bad_file_leaves_nothing(api, tmp_path):
    app, client = api
    account = signup(client, "venue")
    ticket = client.post("/v1/media/uploads", headers=account.headers, json={}).json()
    client.put(ticket["url"], content=b"just some text, not a picture")
    r = client.post(f"/v1/media/uploads/{ticket['upload_id']}/complete",
                    headers=account.headers, json={})
    assert r.status_code == 415
    _nothing_stored(app)


def test_media_is_invisible_to_other_orgs(api, tmp_path):
    _, client = api
    owner = signup(client, "advertiser")
    stranger = signup(client, "advertiser")
    media_id = _upload(client, owner, media_samples.png(tmp_path)).json()["id"]
    theirs = client.get(f"/v1/media/{media_id}", headers=stranger.headers)
    nobodys = client.get("/v1/media/med_nothing", headers=stranger.headers)
    assert theirs.status_code == nobodys.status_code == 404
    assert theirs.json() == nobodys.json()
    assert client.get("/v1/media", headers=stranger.headers).json()["items"] == []
    # and nobody can complete another org's upload
    ticket = client.post("/v1/media/uploads", headers=owner.headers, json={}).json()
    r = client.post(f"/v1/media/uploads/{ticket['upload_id']}/complete",
                    headers=stranger.headers, json={})
    assert r.status_code == 404


def test_who_may_upload(api, tmp_path):
    _, client = api
    venue = signup(client, "venue")
    r = client.post(f"/v1/orgs/{venue.org_id}/members", headers=venue.headers,
                    json={"email": "tech@example.com", "role": "technician"})
    tech_token = client.post("/v1/auth/invitations/accept", json={
        "token": r.json()["invite_token"], "password": "correct horse battery"}).json()[
        "access_token"]
    key = client.post("/v1/api-keys", headers=venue.headers, json={"name": "bi"}).json()["key"]
    path = media_samples.png(tmp_path)
    for token in (tech_token, key):
        with path.open("rb") as f:
            r = client.post("/v1/media", headers=bearer(token), files={"file": ("a.png", f)})
        assert r.status_code == 403, r.text


@pytest.mark.parametrize("sample", ["mp4", "mov_other_codec"])
def test_video_upload_is_converted_for_every_screen(api, tmp_path, sample):
    _, client = api
    account = signup(client, "advertiser")
    r = _upload(client, account, getattr(media_samples, sample)(tmp_path))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["kind"] == "video" and body["metadata"]["duration_ms"] > 0
    ready = _wait_ready(client, account, body["id"], timeout_s=180)
    assert ready["status"] == "ready", ready
    by_name = {r["name"]: r for r in ready["renditions"]}
    assert {"1920x1080-letterbox", "1080x1920-letterbox", "1280x720-letterbox", "poster",
            "thumbnail"} == set(by_name)
    video = by_name["1280x720-letterbox"]
    assert (video["mime"], video["width"], video["height"]) == ("video/mp4", 1280, 720)
    assert abs(video["duration_ms"] - body["metadata"]["duration_ms"]) < 200
    r = client.get(video["url"], headers={"Range": "bytes=0-15"})
    assert r.status_code == 206 and r.content[4:8] == b"ftyp"
    assert _fetch_image(client, by_name["poster"]["url"]).format == "JPEG"


def test_a_video_that_cannot_be_converted_fails_with_a_clear_error(api, tmp_path, monkeypatch):
    _, client = api
    account = signup(client, "advertiser")
    from control_plane.media import transcode

    # ffmpeg missing on the worker: the job is retried, then fails and says why on the media
    original = transcode.FfmpegTranscoder.__init__

    def no_ffmpeg(self, **kwargs):
        original(self, ffmpeg="/nonexistent/ffmpeg")

    monkeypatch.setattr(transcode.FfmpegTranscoder, "__init__", no_ffmpeg)
    body = _upload(client, account, media_samples.mp4(tmp_path, seconds=1.0)).json()
    failed = _wait_ready(client, account, body["id"])
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "processing_failed" and failed["error"]["message"]
    assert failed["job"]["status"] == "failed"
    assert failed["renditions"] == []
