"""The object store on S3, Cloudflare R2 or any S3-compatible server, through boto3.

Credentials come the way boto3 finds them (environment, profile, instance role); the endpoint is
`ADSBIN_S3_ENDPOINT_URL` for R2 and friends. Signed URLs are S3's own presigned URLs, so devices
download straight from the bucket and the control plane serves no media bytes at scale.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from control_plane.storage.base import ObjectInfo, validate_key, validate_prefix
from control_plane.storage.exceptions import InvalidRange, ObjectNotFound

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


class S3ObjectStore:
    """Objects in one bucket, optionally under a key prefix."""

    def __init__(self, bucket: str, *, prefix: str = "", endpoint_url: str | None = None,
                 region: str = "us-east-1", client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client or boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region,
            config=Config(signature_version="s3v4", retries={"max_attempts": 5,
                                                             "mode": "standard"}))

    def _k(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _info(self, key: str, size: int, content_type: str | None, modified: Any) -> ObjectInfo:
        return ObjectInfo(key=key, size=int(size),
                          content_type=content_type or "application/octet-stream",
                          modified_at=modified)

    def put(self, key: str, data: bytes | BinaryIO, *,
            content_type: str = "application/octet-stream") -> ObjectInfo:
        """Store `data` under `key` (multipart for large file objects)."""
        if isinstance(data, bytes):
            self.client.put_object(Bucket=self.bucket, Key=self._k(key), Body=data,
                                   ContentType=content_type)
        else:
            self.client.upload_fileobj(data, self.bucket, self._k(key),
                                       ExtraArgs={"ContentType": content_type})
        info = self.head(key)
        assert info is not None
        return info

    def put_file(self, key: str, path: Path, *,
                 content_type: str = "application/octet-stream") -> ObjectInfo:
        """Store the file at `path` under `key`."""
        self.client.upload_file(str(path), self.bucket, self._k(key),
                                ExtraArgs={"ContentType": content_type})
        info = self.head(key)
        assert info is not None
        return info

    def _get_object(self, key: str, offset: int, length: int | None) -> Any:
        if offset < 0 or (length is not None and length < 0):
            raise InvalidRange("a range cannot be negative")
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self._k(key)}
        if length == 0:
            info = self.head(key)
            if info is None:
                raise ObjectNotFound(f"no object {key!r}")
            return None
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            kwargs["Range"] = f"bytes={offset}-{end}"
        try:
            return self.client.get_object(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _NOT_FOUND:
                raise ObjectNotFound(f"no object {key!r}") from exc
            if code == "InvalidRange":
                raise InvalidRange(f"the range starts past the end of {key!r}") from exc
            raise

    def get(self, key: str, *, offset: int = 0, length: int | None = None) -> bytes:
        """The bytes of `key` from `offset`, `length` of them."""
        response = self._get_object(key, offset, length)
        return b"" if response is None else bytes(response["Body"].read())

    def iter_bytes(self, key: str, *, offset: int = 0, length: int | None = None,
                   chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The bytes of `key` in chunks."""
        response = self._get_object(key, offset, length)
        if response is None:
            return iter(())
        return iter(response["Body"].iter_chunks(chunk_size))

    def download(self, key: str, path: Path) -> ObjectInfo:
        """Write the object to `path`, atomically."""
        tmp = path.with_name(f".{path.name}.part")
        try:
            self.client.download_file(self.bucket, self._k(key), str(tmp))
        except ClientError as exc:
            tmp.unlink(missing_ok=True)
            if exc.response.get("Error", {}).get("Code", "") in _NOT_FOUND:
                raise ObjectNotFound(f"no object {key!r}") from exc
            raise
        tmp.replace(path)
        info = self.head(key)
        assert info is not None
        return info

    def head(self, key: str) -> ObjectInfo | None:
        """The object's facts, or None."""
        try:
            r = self.client.head_object(Bucket=self.bucket, Key=self._k(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") in _NOT_FOUND:
                return None
            raise
        return self._info(key, r["ContentLength"], r.get("ContentType"), r.get("LastModified"))

    def exists(self, key: str) -> bool:
        """Whether `key` is stored."""
        return self.head(key) is not None

    def delete(self, key: str) -> None:
        """Remove `key` (S3 does not mind a missing one)."""
        self.client.delete_object(Bucket=self.bucket, Key=self._k(key))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with `prefix`, in key order."""
        validate_prefix(prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix):]
                yield self._info(key, item["Size"], None, item.get("LastModified"))

    def signed_url(self, key: str, *, expires_in_s: int = 3600, method: str = "GET",
                   content_type: str | None = None) -> str:
        """An S3 presigned URL to GET or PUT `key`."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._k(key)}
        if method.upper() == "PUT":
            if content_type:
                params["ContentType"] = content_type
            operation = "put_object"
        elif method.upper() == "GET":
            operation = "get_object"
        else:
            raise ValueError(f"signed URLs are for GET or PUT, not {method}")
        return str(self.client.generate_presigned_url(operation, Params=params,
                                                      ExpiresIn=expires_in_s))
