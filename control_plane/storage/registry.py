"""Choosing the object store from `ADSBIN_STORAGE_URL`: `file:///path` or `s3://bucket/prefix`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from control_plane.settings import Settings
from control_plane.storage.base import ObjectStore
from control_plane.storage.local import LocalObjectStore
from control_plane.storage.s3 import S3ObjectStore
from control_plane.storage.signing import UrlSigner, load_or_create_secret


def make_object_store(settings: Settings) -> ObjectStore:
    """The object store the settings name."""
    url = urlparse(settings.storage_url)
    if url.scheme == "file":
        return LocalObjectStore(
            Path(unquote(url.path)),
            signer=UrlSigner(load_or_create_secret(settings.keys_dir / "storage-url.secret")),
            public_url=settings.public_url)
    if url.scheme == "s3":
        if not url.netloc:
            raise ValueError("ADSBIN_STORAGE_URL=s3://... needs a bucket name")
        return S3ObjectStore(url.netloc, prefix=url.path, endpoint_url=settings.s3_endpoint_url,
                             region=settings.s3_region)
    raise ValueError(f"ADSBIN_STORAGE_URL must start with file:// or s3://, "
                     f"not {settings.storage_url!r}")
