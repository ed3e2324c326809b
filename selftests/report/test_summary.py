"""summary.json pieces (jetson_hil.report.summary), the plots and the page's size for a 10-minute run."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from types import SimpleNamespace

from report_schema import errors

from jetson_hil import diagnosis
from jetson_hil.report import plots, summary
from jetson_hil.report.page import sections

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "summary-schema.json").read_text())
DRIVER_LOG = "loading model\nRuntimeError: CUDA driver version is insufficient for CUDA runtime version"
DIAGNOSES = [d.as_dict() for d in diagnosis.diagnose("", DRIVER_LOG, sources=["message", "docker logs vl_jepa"])]


def test_redacts_secret_keys():
    env = {"MQTT_PASSWORD": "p", "API_TOKEN": "t", "aws_secret": "s", "SSH_KEY_PATH": "k", "VL_JEPA_DEVICE": "cuda"}
    assert summary.redact(env) == {
        "MQTT_PASSWORD": "***",
        "API_TOKEN": "***",
        "aws_secret": "***",
        "SSH_KEY_PATH": "***",
        "VL_JEPA_DEVICE": "cuda",
    }


def test_task_verdicts():
    tests = [
        {"outcome": "passed", "tasks": ["task1"]},
        {"outcome": "failed", "tasks": ["task1", "task3"]},
        {"outcome": "skipped", "tasks": ["task5"]},
        {"outcome": "error", "tasks": ["task2"]},
        {"outcome": "passed", "tasks": ["task6"]},
    ]
    v = summary.task_verdicts(tests)
    assert {t: v[t]["verdict"] for t in v} == {
        "task1": "failed",
        "task2": "failed",
        "task3": "failed",
        "task4": "not run",
        "task5": "skipped",
        "task6": "passed",
    }
    assert v["task1"] == {"verdict": "failed", "passed": 1, "failed": 1, "skipped": 0, "xfailed": 0}


def _samples(n: int, start: float = 1_700_000_000.0) -> list[SimpleNamespace]:
    out = []
    for i in range(n):
        rails = {"VDD_IN": SimpleNamespace(current_mw=3000 + i % 50), "VDD_SOC": SimpleNamespace(current_mw=1900)}
        if i >= 5:
            rails["VDD_CPU_GPU_CV"] = SimpleNamespace(current_mw=700)
        parsed = SimpleNamespace(
            gpu_load_percent=i % 100,
            ram_used_mb=1500 + i % 30,
            rails=rails,
            temperatures={"gpu": 45.0, "cpu": 44.0 + (i % 10) / 10},
        )
        out.append(SimpleNamespace(received=start + i * 0.5, sample=parsed))
    return out


def test_telemetry_series_aligns_late_rails():
    s = summary.telemetry_series(_samples(10))
    assert len(s["t"]) == 10 and all(len(v) == 10 for v in s["rails_mw"].values())
    assert s["rails_mw"]["VDD_CPU_GPU_CV"][:5] == [None] * 5


def test_downsample_keeps_at_most_max_points():
    s = summary.telemetry_series(_samples(1200))
    small = summary.downsample(s, 600)
    assert len(small["t"]) <= 600 and len(small["rails_mw"]["VDD_IN"]) == len(small["t"])


def test_embedding_timing_and_rate():
    msgs = [
        SimpleNamespace(received=100.0 + i * 0.2, decode=lambda i=i: ({"meta": {"ts": 100.0 + i * 0.2 - 0.01}}, None))
        for i in range(25)
    ]
    msgs.append(SimpleNamespace(received=105.5, decode=lambda: (None, "not JSON")))
    timing = summary.embedding_timing(msgs, "meta.ts")
    assert len(timing["received"]) == 26 and len(timing["latency_ms"]) == 25
    assert all(math.isclose(x, 10.0, abs_tol=0.01) for x in timing["latency_ms"])
    t, n = summary.rate_per_second(timing["received"])
    assert t[0] == 100.0 and sum(n) == 26
    assert summary.latency_stats(timing["latency_ms"])["count"] == 25


def test_built_summary_matches_schema():
    doc = summary.build(
        run={"id": "r", "started": "s", "finished": "f", "exit_status": 1, "report_dir": "/r", "device": "sim1"},
        device={"profile": "sim1", "env": summary.redact({"X_TOKEN": "t"}), "containers": []},
        plan=None,
        tests=[{"nodeid": "t::a", "outcome": "failed", "duration_s": 1.0, "tasks": ["task1"], "diagnoses": DIAGNOSES}],
        measurements=[
            {"nodeid": "t::a", "name": "m", "value": 1, "unit": "Hz", "low": 2, "high": "inf", "outcome": "FAIL"}
        ],
        attachments=[{"name": "log", "nodeid": None, "text": "x"}],
        latency_ms=[1.0, 2.0],
        message_count=2,
        telemetry_samples=0,
        files=["summary.json"],
        data={"window": {"seconds": 20}},
    )
    assert errors(doc, SCHEMA) == []
    assert doc["run"]["verdict"] == "failed"
    assert doc["tests"][0]["diagnoses"][0]["where"] == "docker logs vl_jepa"
    bare = {**doc, "tests": [{**doc["tests"][0], "diagnoses": [{"cause": "c"}]}]}
    assert "$.tests[0].diagnoses[0]: missing 'id'" in errors(bare, SCHEMA)
    assert errors({**doc, "schema_version": 2}, SCHEMA) == ["$.schema_version: 2 not in [1]"]


def test_ten_minute_run_page_stays_small():
    """A 10-minute run at tegrastats' 500 ms and 5 embeddings/s: the plots (the page's share) stay far
    under the 5 MB budget, and the full series goes to telemetry.json, not the page."""
    series = summary.telemetry_series(_samples(1200))
    received = [1_700_000_000.0 + i * 0.2 for i in range(3000)]
    latency = [5.0 + (i % 37) for i in range(3000)]
    pngs = {
        "telemetry.png": plots.telemetry_png(summary.downsample(series, 600), summary.rate_per_second(received)),
        "latency.png": plots.latency_png(latency),
    }
    assert all(pngs.values())
    doc = {"run": {"id": "r"}, "tasks": summary.task_verdicts([]), "latency_ms": summary.latency_stats(latency)}
    page = "".join(sections(doc, pngs))
    assert len(page.encode()) < 1_000_000, len(page)
    assert pngs["telemetry.png"].startswith(b"\x89PNG")


def test_report_dirs_of_the_same_second_do_not_collide(tmp_path):
    from fixtures.report_state import fresh_dir

    first, second = (
        fresh_dir(tmp_path / "reports", "20260101T000000Z"),
        fresh_dir(tmp_path / "reports", "20260101T000000Z"),
    )
    assert first.name == "20260101T000000Z" and second.name == "20260101T000000Z-2"


def test_failures_show_each_diagnosis_above_the_check():
    """id, cause, fix and the evidence line with where it came from, then the failed check and its message."""
    tests = [
        {"nodeid": "t::broken", "outcome": "failed", "message": "embeddings computed on cpu", "diagnoses": DIAGNOSES},
        {"nodeid": "t::other", "outcome": "error", "message": "boom", "diagnoses": []},
        {"nodeid": "t::fine", "outcome": "passed"},
    ]
    page = "".join(sections({"run": {"id": "r"}, "tests": tests}, {}))
    d = DIAGNOSES[0]
    assert d["id"] == "cuda_driver_insufficient" and d["line"] == 2
    shown = [page.find(x) for x in ('id="jetson-hil-failures"', d["id"], "docker logs vl_jepa:2: RuntimeError: CUDA",
                                    "t::broken", "embeddings computed on cpu")]
    assert -1 not in shown and shown == sorted(shown), shown
    assert html.escape(d["fix"]) in page
    assert page.find("(no known failure signature)") > page.find("t::broken") and "t::fine" not in page
