"""The design doc section (jetson_hil.report.doc) and --attach-doc on a local file: markers, idempotence,
every byte outside the markers kept, a backup first."""

from __future__ import annotations

import pytest

from fixtures.report_device import attach_doc
from fixtures.report_state import ReportState
from jetson_hil.report.doc import BEGIN, END, MarkerError, render_section, splice

SUMMARY = {
    "run": {"id": "20260101T000000Z", "device": "sim1", "verdict": "passed"},
    "plan": {"path": "plan_a_success", "title": "Plan A", "reason": "embeddings on cuda"},
    "tasks": {f"task{i}": {"verdict": "passed", "passed": 2, "failed": 0, "skipped": 0} for i in range(1, 7)},
    "measurements": [{"name": "embeddings.rate_hz", "value": 5.0, "unit": "Hz", "outcome": "PASS"}],
    "latency_ms": {"count": 3, "p50": 1.5, "p95": 9.0},
}


def test_appends_once_with_markers():
    doc = "# Design\n\nText.\n"
    once = splice(doc, "S\n")
    assert once == doc + f"\n{BEGIN}\nS\n{END}\n"
    assert splice(once, "S\n") == once


@pytest.mark.parametrize("doc", ["", "no newline at end", "# T\r\nwindows\r\n", "ünïcødé ✓\n\n\n"])
def test_append_keeps_the_doc_as_its_prefix(doc):
    out = splice(doc, "S")
    assert out.startswith(doc)
    assert out.count(BEGIN) == 1 and out.count(END) == 1
    assert splice(out, "S") == out


def test_replaces_between_markers_and_keeps_every_other_byte():
    before, after = "head\r\n  x \t\n", "\n\ntail without newline"
    doc = f"{before}{BEGIN}\nold section\nmore\n{END}{after}"
    out = splice(doc, "new\n")
    assert out == f"{before}{BEGIN}\nnew\n{END}{after}"
    assert splice(out, "new\n") == out
    assert splice(out, "old section\nmore\n") == doc


def test_markers_inline_and_empty_section():
    doc = f"a {BEGIN}{END} b"
    assert splice(doc, "") == f"a {BEGIN}\n{END} b"


@pytest.mark.parametrize(
    "doc",
    [f"{BEGIN}\nx\n", f"x\n{END}\n", f"{END}\n{BEGIN}\n", f"{BEGIN}{END}{BEGIN}{END}", f"{BEGIN}{BEGIN}{END}"],
)
def test_broken_markers_are_refused(doc):
    with pytest.raises(MarkerError, match="marker|before"):
        splice(doc, "S")


def test_section_names_path_verdicts_figures_and_report():
    text = render_section(SUMMARY, "/r/report.html")
    assert "plan_a_success" in text and "embeddings on cuda" in text
    for i in range(1, 7):
        assert f"| task{i} | passed |" in text
    assert "embeddings.rate_hz: 5.0 Hz (PASS)" in text and "1.5 / 9.0 ms" in text
    assert "/r/report.html" in text
    assert BEGIN not in text and END not in text


def test_attach_doc_local_backup_and_idempotent(tmp_path):
    path = tmp_path / "design.md"
    original = b"# Design\r\n\r\nKeep \xc3\xa9 this.\n"
    path.write_bytes(original)
    state = ReportState(directory=tmp_path / "rep", run_id="r1", summary=SUMMARY)
    assert "updated" in attach_doc(str(path), None, state)
    assert (tmp_path / "design.md.bak").read_bytes() == original
    first = path.read_bytes()
    assert first.startswith(original) and BEGIN.encode() in first
    assert "already up to date" in attach_doc(str(path), None, state)
    assert path.read_bytes() == first
    state.summary = {**SUMMARY, "run": {**SUMMARY["run"], "id": "r2"}}
    attach_doc(str(path), None, state)
    second = path.read_bytes()
    assert b"r2" in second and b"20260101T000000Z" not in second
    assert second.startswith(original) and (tmp_path / "design.md.bak").read_bytes() == first


def test_attach_doc_leaves_a_doc_with_broken_markers_alone(tmp_path):
    path = tmp_path / "design.md"
    path.write_text(f"# Design\n{BEGIN}\nno end marker\n")
    state = ReportState(directory=tmp_path / "rep", run_id="r1", summary=SUMMARY)
    with pytest.raises(MarkerError):
        attach_doc(str(path), None, state)
    assert path.read_text() == f"# Design\n{BEGIN}\nno end marker\n"
    assert not (tmp_path / "design.md.bak").exists()
