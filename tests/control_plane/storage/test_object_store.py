"""The same cases against both object stores: the local folder and S3 (a real moto_server)."""

from __future__ import annotations

import io
import time
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from fastapi.testclient import TestClient

from control_plane.app import create_app
from control_plane.storage.exceptions import InvalidKey, InvalidRange, ObjectNotFound
from control_plane.storage.local import LocalObjectStore
from control_plane.storage.registry import make_object_store
from tests.helpers import error_code, with_settings


@pytest.fixture(params=["local", "s3"])
def stack(request, settings):
    """(store, http client able to fetch its signed URLs) for each kind of store."""
    if request.param == "s3":
        moto = request.getfixturevalue("moto_s3")
        bucket = request.getfixturevalue("s3_bucket")
        settings = with_settings(settings, storage_url=f"s3://{bucket}/tenant-a",
                                 s3_endpoint_url=moto)
    app = create_app(settings)
    with TestClient(app) as client, httpx.Client() as http:
        def fetch(method, url, **kwargs):
            if url.startswith("http://testserver"):
                return client.request(method, url, **kwargs)
            return http.request(method, url, **kwargs)

        yield app.state.object_store, fetch


def test_put_get_head_exists_delete(stack):
    store, _ = stack
    info = store.put("media/abc/original.png", b"\x89PNG data", content_type="image/png")
    assert (info.key, info.size, info.content_type) == ("media/abc/original.png", 9, "image/png")
    assert store.get("media/abc/original.png") == b"\x89PNG data"
    assert store.exists("media/abc/original.png")
    assert store.head("media/abc/original.png").content_type == "image/png"
    store.delete("media/abc/original.png")
    assert not store.exists("media/abc/original.png")
    assert store.head("media/abc/original.png") is None
    store.delete("media/abc/original.png")  # deleting what is gone is fine
    with pytest.raises(ObjectNotFound):
        store.get("media/abc/original.png")


def test_ranges(stack):
    store, _ = stack
    data = bytes(range(256)) * 40
    store.put("blob", io.BytesIO(data))
    assert store.get("blob", offset=10, length=5) == data[10:15]
    assert store.get("blob", offset=10_000) == data[10_000:]
    assert store.get("blob", offset=10_000, length=10_000) == data[10_000:]
    assert b"".join(store.iter_bytes("blob", offset=1, length=3000, chunk_size=1000)) == \
        data[1:3001]
    with pytest.raises(InvalidRange):
        store.get("blob", offset=len(data) + 1)


def test_large_file_objects_and_download(stack, tmp_path):
    store, _ = stack
    data = (b"0123456789abcdef" * 65_536) * 7  # 7 MiB: multipart on S3
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    assert store.put_file("big/one.bin", source, content_type="video/mp4").size == len(data)
    with source.open("rb") as f:
        store.put("big/two.bin", f)
    target = tmp_path / "copy.bin"
    store.download("big/two.bin", target)
    assert target.read_bytes() == data
    assert not list(tmp_path.glob(".*.part"))


def test_list_by_prefix(stack):
    store, _ = stack
    for key in ("playlists/s2.json", "playlists/s1.json", "media/x/a.png", "playlists-old/x"):
        store.put(key, b"{}")
    assert [o.key for o in store.list("playlists/")] == ["playlists/s1.json",
                                                         "playlists/s2.json"]
    assert [o.key for o in store.list("playlists")] == ["playlists-old/x", "playlists/s1.json",
                                                        "playlists/s2.json"]
    assert len(list(store.list())) == 4
    assert list(store.list("nothing/")) == []


@pytest.mark.parametrize("key", ["../etc/passwd", "/etc/passwd", "a/../../b", "a//b", ".hidden",
                                 "a/.meta/x", "a\\b", "a/\x00b", "", "a/./b", "a/..",
                                 "%2e%2e/x", "a/b/", "x" * 2000, "dir/ space"])
def test_traversal_and_unsafe_keys_are_refused(stack, key, tmp_path):
    store, _ = stack
    with pytest.raises(InvalidKey):
        store.put(key, b"nope")
    with pytest.raises(InvalidKey):
        store.get(key)
    with pytest.raises(InvalidKey):
        store.delete(key)
    with pytest.raises(InvalidKey):
        store.signed_url(key)
    assert [o.key for o in store.list()] == []


def test_signed_download_url(stack):
    store, fetch = stack
    store.put("media/clip.mp4", b"0123456789", content_type="video/mp4")
    url = store.signed_url("media/clip.mp4", expires_in_s=60)
    r = fetch("GET", url)
    assert r.status_code == 200 and r.content == b"0123456789"
    assert r.headers["content-type"] == "video/mp4"
    r = fetch("GET", url, headers={"Range": "bytes=2-5"})
    assert r.status_code == 206 and r.content == b"2345"
    assert r.headers["content-range"] == "bytes 2-5/10"
    r = fetch("GET", url, headers={"Range": "bytes=7-"})
    assert r.status_code == 206 and r.content == b"789"


def test_signed_upload_url(stack):
    store, fetch = stack
    url = store.signed_url("uploads/u1", method="PUT", content_type="image/png",
                           expires_in_s=60)
    r = fetch("PUT", url, content=b"\x89PNG...", headers={"Content-Type": "image/png"})
    assert r.status_code in (200, 201), r.text
    assert store.get("uploads/u1") == b"\x89PNG..."
    assert store.head("uploads/u1").content_type == "image/png"


def test_s3_store_is_chosen_by_url_and_signs_with_expiry(settings, moto_s3, s3_bucket):
    store = make_object_store(with_settings(settings, storage_url=f"s3://{s3_bucket}",
                                            s3_endpoint_url=moto_s3))
    query = parse_qs(urlparse(store.signed_url("a/b", expires_in_s=120)).query)
    assert query["X-Amz-Expires"] == ["120"] and query["X-Amz-Signature"][0]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]


# -- the local store's own signed URLs, served by the control plane --------------------------
# (moto_server does not check presigned query signatures or expiry; S3 itself does.)

@pytest.fixture
def local(settings):
    app = create_app(settings)
    with TestClient(app) as client:
        store = app.state.object_store
        assert isinstance(store, LocalObjectStore)
        store.put("media/clip.mp4", b"0123456789", content_type="video/mp4")
        yield store, client


def _tamper(url, name, value):
    parsed = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    query[name] = value
    return parsed._replace(query="&".join(f"{k}={v}" for k, v in query.items())).geturl()


def test_local_signed_url_tampering_is_refused(local):
    store, client = local
    url = store.signed_url("media/clip.mp4", expires_in_s=60)
    signature = parse_qs(urlparse(url).query)["signature"][0]
    expires = int(parse_qs(urlparse(url).query)["expires"][0])
    forged = [
        _tamper(url, "signature", ("0" if signature[0] != "0" else "1") + signature[1:]),
        _tamper(url, "expires", str(expires + 3600)),
        url.replace("media/clip.mp4", "media/other.mp4"),
        url.split("?")[0],
    ]
    store.put("media/other.mp4", b"secret")
    for bad in forged:
        r = client.get(bad)
        assert r.status_code == 403 and error_code(r) == "signature_invalid", bad
    # a download URL does not allow an upload
    r = client.put(url, content=b"overwrite")
    assert r.status_code == 403
    assert store.get("media/clip.mp4") == b"0123456789"


def test_local_signed_url_expires(local):
    store, client = local
    url = store.signed_url("media/clip.mp4", expires_in_s=3)  # whole seconds: valid 2-3 s
    assert client.get(url).status_code == 200
    time.sleep(3.2)
    r = client.get(url)
    assert r.status_code == 403 and error_code(r) == "url_expired"


def test_local_unsatisfiable_range_is_416(local):
    store, client = local
    url = store.signed_url("media/clip.mp4")
    r = client.get(url, headers={"Range": "bytes=50-60"})
    assert r.status_code == 416 and r.headers["content-range"] == "bytes */10"
    r = client.get(url, headers={"Range": "bytes=0-1,4-5"})  # several ranges: the whole object
    assert r.status_code == 200 and r.content == b"0123456789"
    r = client.head(url)
    assert r.status_code == 200 and r.headers["content-length"] == "10"


def test_local_signed_upload_is_size_limited_and_atomic(local, settings):
    store, _ = local
    app = create_app(with_settings(settings, max_upload_bytes=1000))
    with TestClient(app) as client:
        store = app.state.object_store
        url = store.signed_url("uploads/big", method="PUT")
        r = client.put(url, content=b"x" * 5000)
        assert r.status_code == 413 and error_code(r) == "too_large"
    assert not store.exists("uploads/big")
    assert not [p for p in store.root.rglob("*") if p.name.startswith((".upload", ".tmp"))]


def test_traversal_through_the_http_route_is_refused(local):
    _store, client = local
    for path in ("/v1/storage/../keys/storage-url.secret", "/v1/storage/%2e%2e/keys/x",
                 "/v1/storage/.meta/media/clip.mp4.json"):
        r = client.get(path)
        assert r.status_code in (403, 404, 422), path
        assert b"secret" not in r.content
