"""Errors of reporting, each with a stable code.

    Forbidden (403)
    └── BadSignature        bad_signature: the batch is not signed by the uploading device
    Conflict (409)
    └── IngestRaced         ingest_conflict: the same plays kept arriving concurrently
    NotFound (404)
    └── BatchNotFound       pop_batch_not_found (also: not yours to read)
    Invalid (422)           invalid_group_by, invalid_period, report_too_large
"""

from __future__ import annotations

from control_plane.errors import Conflict, Forbidden, NotFound


class BadSignature(Forbidden):
    code = "bad_signature"


class IngestRaced(Conflict):
    code = "ingest_conflict"


class BatchNotFound(NotFound):
    code = "pop_batch_not_found"
