"""Serving the local object store's signed URLs: GET/HEAD with `Range`, and PUT for uploads.

Only the embedded store needs this; with S3 the signed URLs point at the bucket itself.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from control_plane.dependencies import ObjectStoreDep, SettingsDep
from control_plane.errors import NotFound, PayloadTooLarge
from control_plane.storage.base import check_range, validate_key
from control_plane.storage.exceptions import InvalidRange
from control_plane.storage.local import LocalObjectStore

router = APIRouter(prefix="/v1/storage", tags=["storage"])
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
Signed = Annotated[str | None, Query()]


async def _local_store(store: ObjectStoreDep) -> LocalObjectStore:
    """The app's object store, when it is the local one (404 with S3)."""
    if not isinstance(store, LocalObjectStore):
        raise NotFound("this installation serves objects from S3, not from here")
    return store


LocalStore = Annotated[LocalObjectStore, Depends(_local_store)]


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(offset, length) of a single `bytes=` range, None to serve it all; 416 if unsatisfiable."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:  # several ranges or another unit: serve the whole object (RFC 9110 allows)
        return None
    first, last = match.groups()
    if not first and not last:
        raise InvalidRange("an empty range", details={"size": size})
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            raise InvalidRange("a zero-length suffix range", details={"size": size})
        offset = max(0, size - suffix)
        return offset, size - offset
    offset = int(first)
    end = int(last) if last else size - 1
    if end < offset:
        raise InvalidRange("the range ends before it starts", details={"size": size})
    return check_range(size, offset, end - offset + 1)


@router.head("/{key:path}", include_in_schema=False)
@router.get("/{key:path}", summary="Download by signed URL (Range supported)")
def download(key: str, request: Request, store: LocalStore, expires: Signed = None,
             signature: Signed = None) -> Response:
    validate_key(key)
    store.signer.verify("GET", key, expires, signature)
    info = store.head(key)
    if info is None:
        raise NotFound("no such object", code="object_not_found")
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=300"}
    try:
        window = parse_range(request.headers.get("range"), info.size)
    except InvalidRange as exc:
        exc.headers = {"Content-Range": f"bytes */{info.size}"}
        raise
    offset, length, status = 0, info.size, 200
    if window is not None:
        offset, length = window
        status = 206
        headers["Content-Range"] = f"bytes {offset}-{offset + length - 1}/{info.size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=info.content_type)
    return StreamingResponse(store.iter_bytes(key, offset=offset, length=length),
                             status_code=status, headers=headers, media_type=info.content_type)


@router.put("/{key:path}", status_code=201, summary="Upload by signed URL")
async def upload(key: str, request: Request, store: LocalStore, settings: SettingsDep,
                 expires: Signed = None, signature: Signed = None,
                 content_type: Signed = None) -> dict[str, object]:
    validate_key(key)
    store.signer.verify("PUT", key, expires, signature, content_type)
    limit = settings.max_upload_bytes
    with tempfile.NamedTemporaryFile(dir=store.root, prefix=".upload-") as tmp:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise PayloadTooLarge(f"uploads are limited to {limit} bytes",
                                      details={"limit_bytes": limit})
            tmp.write(chunk)
        tmp.flush()
        info = await run_in_threadpool(
            store.put_file, key, Path(tmp.name),
            content_type=content_type or request.headers.get("content-type")
            or "application/octet-stream")
    return {"key": info.key, "size": info.size, "content_type": info.content_type}
