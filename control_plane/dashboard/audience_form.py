"""The audience form of a venue's or a screen's page: its fields as text, the API's shape of them
(`AudienceProfileIn`, which judges what is posted), and the API's errors put back at the field
that caused them.

Shares are typed in percent (the API takes fractions); a daypart is a row of the form (its days,
from, to, viewers per hour), and an empty row is left out. A daypart's own age and gender split,
which only the API sets, is carried through the form unchanged (`split`), so saving here never
drops it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from control_plane.dashboard.web import FormErrors
from control_plane.taxonomy.demographics import AGE_BANDS, GENDERS
from control_plane.venues.schemas import WEEKDAYS, AudienceProfileIn

SOURCES = (("owner_estimate", "My own estimate"), ("measured", "Measured (a counter, a sensor)"),
           ("third_party", "From a third party"))
DAY_LETTERS = dict(zip(WEEKDAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=True))
MIN_ROWS, MORE_ROWS, MAX_ROWS = 4, 4, 200
MAX_TEXT = 40
SPLIT_CHARS = 2000
_H_MM = re.compile(r"\d:\d\d")


@dataclass
class Row:
    """A daypart as the form shows it."""

    days: list[str] = field(default_factory=list)
    start: str = ""
    end: str = ""
    viewers: str = ""
    split: str = ""  # its own age/gender split (JSON), set through the API

    def blank(self) -> bool:
        """Nothing typed in this row."""
        return not (self.days or self.start or self.end or self.viewers)


@dataclass
class Values:
    """What the form shows."""

    source: str = "owner_estimate"
    as_of: str = ""
    dwell: str = "60"
    age: dict[str, str] = field(default_factory=dict)
    gender: dict[str, str] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)

    def padded(self, extra: int = 0) -> Values:
        """The same with empty rows to type new dayparts into."""
        wanted = min(MAX_ROWS, max(MIN_ROWS, len(self.rows) + 2) + extra)
        self.rows += [Row() for _ in range(wanted - len(self.rows))]
        return self


def _text(number: float) -> str:
    return f"{number:.2f}".rstrip("0").rstrip(".")


def of_profile(profile: Any | None) -> Values:
    """The form filled with a profile (a blank one for None)."""
    if profile is None:
        return Values().padded()
    rows = [Row(list(d["weekdays"]), d["start"], d["end"], _text(d["viewers_per_hour"]),
                json.dumps({k: d[k] for k in ("age", "gender") if d.get(k)}) if d.get("age")
                or d.get("gender") else "") for d in profile.dayparts]
    return Values(profile.source, profile.as_of.isoformat() if profile.as_of else "",
                  _text(profile.dwell_minutes),
                  {b: _text(profile.age.get(b, 0) * 100) for b in AGE_BANDS},
                  {g: _text(profile.gender.get(g, 0) * 100) for g in GENDERS}, rows).padded()


def _field(form: FormData, name: str) -> str:
    return str(form.get(name) or "").strip()[:MAX_TEXT]


def read(form: FormData) -> Values:
    """The posted form as text."""
    count = int(_field(form, "rows")) if _field(form, "rows").isdigit() else MIN_ROWS
    rows = [Row([str(d) for d in form.getlist(f"dp{i}_days")][:7], _field(form, f"dp{i}_start"),
                _field(form, f"dp{i}_end"), _field(form, f"dp{i}_viewers"),
                str(form.get(f"dp{i}_split") or "")[:SPLIT_CHARS])
            for i in range(min(count, MAX_ROWS))]
    return Values(_field(form, "source"), _field(form, "as_of"), _field(form, "dwell_minutes"),
                  {b: _field(form, f"age_{i}") for i, b in enumerate(AGE_BANDS)},
                  {g: _field(form, f"gender_{g}") for g in GENDERS}, rows)


def _shares(typed: dict[str, str], what: str) -> tuple[dict[str, float], str]:
    """Percent as the API's fractions, or what is wrong with them."""
    shares: dict[str, float] = {}
    for key, text in typed.items():
        try:
            shares[key] = float(text.replace(",", ".").rstrip("% ")) / 100 if text else 0.0
        except ValueError:
            return {}, f"{text!r} is no number: give each {what} share in percent"
    total = round(sum(shares.values()) * 100, 2)
    if total == 0:
        return {}, f"Give the share of each {what} in percent, adding up to 100"
    if abs(total - 100) > 1:
        return shares, f"The {what} shares add up to {_text(total)}%, not 100%"
    return shares, ""


def _time(text: str) -> str:
    return f"0{text}" if _H_MM.fullmatch(text) else text  # 8:00 is 08:00


def _split(text: str) -> dict[str, Any]:
    try:
        found = json.loads(text) if text else {}
    except ValueError:
        return {}
    return {k: v for k, v in found.items() if k in ("age", "gender")} \
        if isinstance(found, dict) else {}


def judge(values: Values) -> tuple[AudienceProfileIn | None, FormErrors]:
    """The form as the API's body, or the errors by field (`dp<row>_<part>` for a daypart's,
    `dayparts` for all of them, `age`, `gender`, `source`, `as_of`, `dwell_minutes`)."""
    errors = FormErrors()
    age, errors["age"] = _shares(values.age, "age band")
    gender, errors["gender"] = _shares(values.gender, "gender")
    errors = FormErrors({k: v for k, v in errors.items() if v})
    sent: list[dict[str, Any]] = []
    row_of: list[int] = []  # the form's row of each daypart sent
    for i, row in enumerate(values.rows):
        if row.blank():
            continue
        missing = {"days": (not row.days, "Choose its days"),
                   "start": (not row.start, "Give its start, HH:MM"),
                   "end": (not row.end, "Give its end, HH:MM (24:00 for midnight)"),
                   "viewers": (not row.viewers, "Give how many people are in view per hour")}
        for part, (is_missing, message) in missing.items():
            if is_missing:
                errors[f"dp{i}_{part}"] = message
        if any(is_missing for is_missing, _ in missing.values()):
            continue
        row_of.append(i)
        sent.append({"weekdays": row.days, "start": _time(row.start), "end": _time(row.end),
                     "viewers_per_hour": row.viewers.replace(",", "."), **_split(row.split)})
    if not sent and not any(k.startswith("dp") and v for k, v in errors.items()):
        errors["dayparts"] = "Give at least one daypart: its days, hours and viewers per hour"
    # shares already refused stand in as valid ones, so the schema judges the rest of the form
    data: dict[str, Any] = {"source": values.source, "dayparts": sent,
                            "age": age if "age" not in errors else {AGE_BANDS[0]: 1},
                            "gender": gender if "gender" not in errors else {GENDERS[0]: 1}}
    if values.dwell:
        data["dwell_minutes"] = values.dwell.replace(",", ".")
    if values.as_of:
        data["as_of"] = values.as_of
    try:
        body = AudienceProfileIn.model_validate(data)
    except ValidationError as exc:
        body = None
        for error in exc.errors():
            where = _where(error["loc"], row_of)
            if where != "dayparts" or sent:  # none sent: the rows' own errors say why
                errors.setdefault(where, _sentence(error["msg"]))
    return (body if not errors else None), errors


def _where(loc: tuple[Any, ...], row_of: list[int]) -> str:
    """The form field of an error of the API's schema."""
    if not loc:
        return "dayparts"  # across dayparts: two of them overlap
    if loc[0] != "dayparts":
        return str(loc[0]) if loc[0] in ("source", "as_of", "dwell_minutes", "age", "gender") \
            else ""
    if len(loc) < 2 or not isinstance(loc[1], int) or loc[1] >= len(row_of):
        return "dayparts"
    part = {"weekdays": "days", "start": "start", "end": "end", "viewers_per_hour": "viewers"}
    name = part.get(str(loc[2]), "split") if len(loc) > 2 else "end"  # no part: it ends first
    return f"dp{row_of[loc[1]]}_{name}"


def _sentence(message: str) -> str:
    message = message.removeprefix("Value error, ")
    return message[:1].upper() + message[1:]
