"""What a benchmark measured, kept: one JSON file per bench in `bench/results/`, and a summary.

Every bench prints its figures as it always did and then calls `save(bench, figures, ...)`,
which writes `bench/results/<bench>.json`: each figure with its value and unit, the baseline
measured in the same run (name, value), their ratio and the goal, and beside them the machine
(CPUs, memory, load average when the bench ended), the commit and the bench's arguments. A
figure that holds only when it repeats is given as the median of its runs, with every run kept
(`runs`). `python bench/results.py` (what `make bench` ends with) reads them all and writes
`bench/results/SUMMARY.md`, the table the README's figures come from.

A ratio is "how far the figure is from its baseline", in the direction that makes bigger better
for a rate (figure / baseline: ingestion at 0.56 × raw insert) and smaller better for a time
(figure / baseline too: a page at 4 × the floor of the same server); `better` says which, so a
goal reads the same either way.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

# where the JSON files go: `make bench-quick` points this at bench/results/quick, so that a smoke
# run never stands in for the figures the README quotes
RESULTS = Path(os.environ.get("ADSBIN_BENCH_RESULTS")
               or Path(__file__).resolve().parent / "results")


@dataclass
class Figure:
    """One measured figure, with its same-run baseline and its goal."""

    name: str
    value: float
    unit: str
    better: Literal["higher", "lower"]
    baseline_name: str | None = None
    baseline: float | None = None
    goal: str | None = None  # as the issue words it: "ratio >= 0.5", "<= 1000 ms"
    met: bool | None = None  # None: no goal, or not judged by the bench
    runs: list[float] = field(default_factory=list)  # every run's value when repeated
    baseline_runs: list[float] = field(default_factory=list)
    engine: str | None = None  # sqlite / postgresql where the bench runs both

    @property
    def ratio(self) -> float | None:
        """The figure over its baseline."""
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline


def median_figure(name: str, values: Sequence[float], unit: str, *,
                  better: Literal["higher", "lower"], baseline_name: str | None = None,
                  baselines: Sequence[float] = (), goal: str | None = None,
                  engine: str | None = None) -> Figure:
    """A figure repeated: the median of the runs (and of the baselines, each run's own)."""
    return Figure(name, statistics.median(values), unit, better, baseline_name,
                  statistics.median(baselines) if baselines else None, goal, None,
                  list(values), list(baselines), engine)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = next((int(line.split()[1]) for line in _read("/proc/meminfo").splitlines()
                   if line.startswith("MemTotal:")), 0)
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gb": round(mem_kb / 1024 / 1024, 1),
            "os": platform.platform(), "python": platform.python_version(),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def commit() -> str | None:
    """The checkout's commit, with `+dirty` when its tracked files have changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, check=True,
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return rev + ("+dirty" if dirty.strip() else "")


def save(bench: str, figures: Iterable[Figure], *, args: argparse.Namespace | dict[str, Any],
         notes: str = "", out: Path | None = None) -> Path:
    """Write `bench/results/<bench>.json` (or `out`); its path."""
    figures = list(figures)
    path = out or RESULTS / f"{bench}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"bench": bench, "ran_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": commit(), "machine": machine(),
            "args": dict(vars(args)) if isinstance(args, argparse.Namespace) else dict(args),
            "notes": notes,
            "figures": [{**asdict(f), "ratio": f.ratio} for f in figures]}
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(f"\nresults: {path}", flush=True)
    return path


def load(directory: Path = RESULTS) -> list[dict[str, Any]]:
    """Every bench's last saved results, by bench name."""
    return [json.loads(p.read_text()) for p in sorted(directory.glob("bench_*.json"))]


def summary(results: list[dict[str, Any]]) -> str:
    """The Markdown table of every figure."""
    lines = ["# Benchmark results", "",
             "Written by `make bench` (`python bench/results.py`) from the JSON files beside "
             "this one: each figure next to the baseline measured in the same run. A figure "
             "with several runs is their median.", "",
             "| bench | figure | engine | value | baseline | ratio | goal | met | runs | "
             "commit | load |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for result in results:
        load_avg = result["machine"].get("load_average") or ["?"]
        for f in result["figures"]:
            baseline = (f"{_num(f['baseline'])} {f['unit']} ({f['baseline_name']})"
                        if f.get("baseline") is not None else "")
            ratio = f"{f['ratio']:.2f}×" if f.get("ratio") is not None else ""
            met = {True: "yes", False: "**no**", None: ""}[f.get("met")]
            lines.append(f"| {result['bench']} | {f['name']} | {f.get('engine') or ''} | "
                         f"{_num(f['value'])} {f['unit']} | {baseline} | {ratio} | "
                         f"{f.get('goal') or ''} | {met} | {len(f.get('runs') or []) or 1} | "
                         f"{result.get('commit') or ''} | {load_avg[0]} |")
    machines = {json.dumps({k: v for k, v in r["machine"].items() if k != "load_average"},
                           sort_keys=True) for r in results}
    lines += ["", "Machines: " + "; ".join(
        f"{m['cpus']} × {m['cpu']}, {m['memory_gb']} GB, Python {m['python']}"
        for m in map(json.loads, sorted(machines))) + ".",
        "`load` is the 1-minute load average when the bench ended: a busy machine lowers "
        "rates, and the same-run baseline is there to show by how much.", ""]
    return "\n".join(lines)


def _num(x: float | None) -> str:
    if x is None:
        return ""
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write bench/results/SUMMARY.md")
    parser.add_argument("--dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = load(args.dir)
    if not results:
        print(f"no results in {args.dir}: run `make bench` (or one bench) first",
              file=sys.stderr)
        return 1
    out = args.dir / "SUMMARY.md"
    out.write_text(summary(results))
    print(f"{out}: {sum(len(r['figures']) for r in results)} figures of {len(results)} benches")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
