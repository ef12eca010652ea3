"""`make bench`'s record: each bench's figures saved as JSON beside their same-run baselines,
the machine and the commit, and SUMMARY.md written from them all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import results  # noqa: E402 - bench/ is not a package


def test_a_saved_bench_reads_back_with_its_ratio_machine_and_commit(tmp_path):
    ingest = results.median_figure("ingestion", [100.0, 300.0, 200.0], "records/s",
                                   better="higher", baseline_name="raw insert",
                                   baselines=[400.0, 500.0, 450.0], goal="ratio >= 0.5",
                                   engine="sqlite")
    ingest.met = False
    page = results.Figure("page p95", 40.0, "ms", "lower", "its JSON twin", 10.0,
                          goal="p95 <= 150 ms", met=True)
    path = results.save("bench_example", [ingest, page], args={"repeat": 3},
                        out=tmp_path / "bench_example.json")
    saved = json.loads(path.read_text())
    assert saved["bench"] == "bench_example" and saved["args"] == {"repeat": 3}
    assert saved["machine"]["cpus"] >= 1 and saved["machine"]["memory_gb"] > 0
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()
    assert saved["commit"].split("+")[0] == head
    first, second = saved["figures"]
    assert (first["value"], first["baseline"], first["runs"]) == (200.0, 450.0,
                                                                   [100.0, 300.0, 200.0])
    assert round(first["ratio"], 3) == 0.444 and first["met"] is False
    assert second["ratio"] == 4.0 and second["engine"] is None


def test_the_summary_is_a_table_of_every_figure(tmp_path):
    results.save("bench_a", [results.Figure("rate", 1234.5, "records/s", "higher", "raw",
                                            2469.0, goal="ratio >= 0.5", met=True,
                                            engine="postgresql")],
                 args={}, out=tmp_path / "bench_a.json")
    results.save("bench_b", [results.Figure("latency", 12.0, "ms", "lower")], args={},
                 out=tmp_path / "bench_b.json")
    assert results.main(["--dir", str(tmp_path)]) == 0
    table = (tmp_path / "SUMMARY.md").read_text()
    assert "| bench_a | rate | postgresql | 1,234 records/s | 2,469 records/s (raw) | 0.50× | " \
           "ratio >= 0.5 | yes | 1 |" in table
    assert "| bench_b | latency |  | 12 ms |  |  |  |  | 1 |" in table
    assert "Machines: " in table


def test_no_results_says_what_to_run(tmp_path, capsys):
    assert results.main(["--dir", str(tmp_path)]) == 1
    assert "run `make bench`" in capsys.readouterr().err
