"""Schemathesis' generated requests, sent through the world's own TestClient with one role's
credential, the answers checked against the OpenAPI document.

The cases come from `schemathesis.openapi.from_dict` of the app's document (no app bound: its
ASGI transport would start a second lifespan of the app); each is serialized by schemathesis
(`Case.as_transport_kwargs`) and sent with the world's client, and `Case.validate_response`
runs the checks. A positive case names the world's real objects (`World.ids`) in its path,
query and body fields of those names; an operation that destroys what its path names gets a
fresh object (`World.fresh`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.control_plane.fuzz.world import World

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
PARAM = re.compile(r"\{([a-z_0-9]+)\}")


@dataclass(frozen=True)
class Budget:
    """Examples per operation and role: positive ones naming the role's own objects, positive
    ones naming the second tenant's, and negative ones."""

    positive: int
    rival: int
    negative: int
    # whether a positive case keeps its generated ids now and then (else always the world's)
    random_ids: bool = False


@dataclass
class Outcome:
    """What one role's run found: a failure per operation found failing, and every status."""

    failures: list[str] = field(default_factory=list)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)  # operation -> status

    def answered(self, low: int, high: int) -> set[str]:
        """The operations that gave at least one status in [low, high)."""
        return {op for op, seen in self.statuses.items() if any(low <= s < high for s in seen)}


def destroyed(method: str, path: str, fresh: dict[str, Any]) -> str | None:
    """The path parameter whose object the operation destroys (or replaces), if any."""
    names = [n for n in PARAM.findall(path) if n in fresh]
    if not names:
        return None
    if method == "DELETE" or path.endswith("/pair") or (
            method == "PATCH" and path.endswith("/members/{user_id}")):
        return str(names[-1])
    return None


def _substitute(value: Any, ids: dict[str, str]) -> Any:
    """`value` with the fields named like a known id set to it (lists `<name>s` to [it])."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k in ids and isinstance(v, str):
                out[k] = ids[k]
            elif k.endswith("_ids") and f"{k[:-1]}" in ids and isinstance(v, list):
                out[k] = [ids[k[:-1]]]
            else:
                out[k] = _substitute(v, ids)
        return out
    if isinstance(value, list):
        return [_substitute(v, ids) for v in value]
    return value


def with_real_ids(case: Any, ids: dict[str, str], fresh: str | None, w: World) -> None:
    """Name the world's objects in the case, in place."""
    known = dict(ids)
    if fresh:
        known[fresh] = w.fresh[fresh]()
    for name in list(case.path_parameters or {}):
        if name in known:
            case.path_parameters[name] = known[name]
    for name in list(case.query or {}):
        if name in known and isinstance(case.query[name], str):
            case.query[name] = known[name]
    if isinstance(case.body, dict | list):
        case.body = _substitute(case.body, known)


def send(w: World, case: Any, headers: dict[str, str]) -> Any:
    """The case, sent with the world's client (the role's credential over the generated one)."""
    kw = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    method, url = kw.pop("method"), kw.pop("url")
    request: dict[str, Any] = {"headers": dict(kw.pop("headers", {}) or {}),
                               "params": kw.pop("params", None), "follow_redirects": False}
    cookies = kw.pop("cookies", None)
    if cookies:
        request["headers"]["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if "json" in kw:
        request["json"] = kw.pop("json")
    data, files = kw.pop("data", None), kw.pop("files", None)
    if files:
        # a multipart body encoded as schemathesis' own transport (requests) would: its parts
        # may be of any generated type, which httpx refuses
        prepared = requests.PreparedRequest()
        prepared.prepare_headers(None)
        prepared.prepare_body(data, files)
        request["headers"]["Content-Type"] = prepared.headers["Content-Type"]
        request["content"] = prepared.body
    elif isinstance(data, bytes | str):
        request["content"] = data
    elif data:
        request["data"] = data
    response = w.client.request(method, url, **request)
    return response


def _failure(case: Any, response: Any, exc: BaseException) -> str:
    body = response.text[:300].replace("\n", " ")
    plain = isinstance(case.body, dict | list | str | int | float | bool)
    sent = {"path": case.formatted_path, "query": case.query,
            "body": case.body if plain else type(case.body).__name__}
    return (f"{case.operation.label} -> {response.status_code} {body}\n"
            f"    sent {sent!r:.400}\n    {type(exc).__name__}: {str(exc)[:600]}")


def _examples(w: World, operation: Any, mode: GenerationMode, n: int, headers: dict[str, str],
              ids: dict[str, str] | None, fresh: str | None, random_ids: bool,
              statuses: Counter[int]) -> str | None:
    """`n` examples of `mode` sent: the first failure, if any."""
    found: list[str] = []
    real = st.booleans() if random_ids and ids is not None else st.just(ids is not None)

    @given(case=operation.as_strategy(generation_mode=mode), real=real)
    @settings(max_examples=n, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case: Any, real: bool) -> None:
        if found:
            return
        if real and ids is not None:
            with_real_ids(case, ids, fresh, w)
        response = send(w, case, headers)
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as exc:  # a check failed: kept, the next operation goes on
            found.append(_failure(case, response, exc))

    try:
        run()
    except Unsatisfiable:
        # an operation that takes no input has no invalid input to send
        assert mode is GenerationMode.NEGATIVE, operation.label
    return found[0] if found else None


def fuzz(w: World, schema: Any, role: str, budget: Budget) -> Outcome:
    """Every operation the role is sent, fuzzed."""
    headers, own = w.headers[role], w.ids_for(role)
    outcome = Outcome()
    for result in schema.get_all_operations():
        operation = result.ok()
        if role == "device" and not operation.path.startswith("/v1/device/"):
            continue
        fresh = destroyed(operation.method.upper(), operation.path, w.fresh)
        statuses: Counter[int] = Counter()
        outcome.statuses[operation.label] = statuses
        # the second tenant's objects are never destroyed (a super-admin has the right to)
        for mode, n, ids, new in ((GenerationMode.POSITIVE, budget.positive, own, fresh),
                                  (GenerationMode.POSITIVE, budget.rival, w.rival_ids, None),
                                  (GenerationMode.NEGATIVE, budget.negative, None, None)):
            if not n or (fresh and ids is w.rival_ids and role == "superadmin"):
                continue
            failure = _examples(w, operation, mode, n, headers, ids, new, budget.random_ids,
                                statuses)
            if failure:
                outcome.failures.append(failure)
                break
    return outcome
