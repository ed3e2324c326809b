"""--attach-doc copies report.html beside the design doc (reports/<run-id>.html) and links it relatively."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from fixtures.report_device import attach_doc
from fixtures.report_state import ReportState
from jetson_hil.report.doc import render_section
from jetson_hil.report.doc_write import copy_report

SUMMARY = {
    "run": {"id": "r7", "device": "sim1", "verdict": "passed", "headline": "recovered via Plan B: ..."},
    "outcome": {
        "title": "Plan B, accepted",
        "verdict": "passed",
        "headline": "recovered via Plan B: PyTorch CUDA fails in vl_jepa_agent (CUBLAS_STATUS_ALLOC_FAILED)",
        "notes": ["3 Task 2 PyTorch CUDA checks reported as the expected finding (xfail)"],
    },
    "plan": {"path": "plan_b", "title": "Plan B path"},
    "tasks": {},
}


@dataclass
class Out:
    rc: int
    err: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def tail(self, n: int) -> str:
        return "\n".join(self.err.splitlines()[-n:])


def shell(command: str) -> Out:
    """The device's shell stand-in: this machine's /bin/sh (the copy's commands are plain POSIX sh)."""
    proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)
    return Out(proc.returncode, proc.stderr)


def test_section_leads_with_the_end_state_and_links_the_copy():
    text = render_section(SUMMARY, "reports/r7.html")
    lines = [line for line in text.splitlines() if line]
    assert lines[1].startswith("**End state: Plan B, accepted (passed)**: recovered via Plan B")
    assert "CUBLAS_STATUS_ALLOC_FAILED" in lines[1] and lines[2].startswith("- Note: 3 Task 2")
    assert "Report: [reports/r7.html](reports/r7.html)" in text


def test_attach_doc_links_the_report_beside_the_doc_and_copies_it(tmp_path):
    design = tmp_path / "docs" / "plans" / "design.md"
    design.parent.mkdir(parents=True)
    design.write_text("# Design\n")
    state = ReportState(directory=tmp_path / "run", run_id="r7", summary=SUMMARY)
    attach_doc(str(design), None, state)
    assert "(reports/r7.html)" in design.read_text()
    assert state.doc_copy == {"on_device": False, "dest": str(design.parent / "reports" / "r7.html")}
    html = tmp_path / "report.html"
    html.write_bytes(b"<html>report</html>")
    assert copy_report(html, state.doc_copy).startswith("report copied to")
    assert (design.parent / "reports" / "r7.html").read_bytes() == html.read_bytes()


def test_device_copy_is_written_in_chunks_and_moved_in_place(tmp_path):
    html = tmp_path / "report.html"
    data = bytes(range(256)) * 1000  # 256 kB: six chunks, every byte value
    html.write_bytes(data)
    dest = tmp_path / "device" / "docs" / "reports" / "r7.html"
    assert copy_report(html, {"on_device": True, "dest": str(dest)}, shell).endswith("on the device")
    assert dest.read_bytes() == data
    assert not dest.with_name("r7.html.jetson-hil.tmp").exists()


def test_a_failing_device_command_says_where(tmp_path):
    html = tmp_path / "report.html"
    html.write_bytes(b"x")
    result = copy_report(html, {"on_device": True, "dest": "/proc/no/such/dir/r7.html"}, shell)
    assert result.startswith("report not copied to /proc/no/such/dir/r7.html on the device")


def test_no_report_written_no_copy(tmp_path):
    assert "was not written" in copy_report(tmp_path / "none.html", {"dest": str(tmp_path / "x.html")})
