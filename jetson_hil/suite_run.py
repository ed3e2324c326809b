"""One run of the acceptance suite in a subprocess, read back from its JUnit XML.

Self-tests, the fault matrix and the benchmarks run `pytest -m jetson` exactly as a user does and judge
what it reported; a run that hangs or writes no JUnit XML says so in `problem` instead of raising.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from jetson_hil import junit


@dataclass
class SuiteRun:
    seconds: float
    rc: int | None
    output: str
    outcomes: list[junit.Outcome]
    problem: str = ""  # why there is no verdict (hang, no JUnit XML)

    def of(self, kind: str) -> dict[str, junit.Outcome]:
        """Outcomes of one kind (passed, failed, error, skipped) by test id."""
        return {o.test_id: o for o in self.outcomes if o.outcome == kind}

    def describe(self) -> str:
        bad = "\n".join(
            f"  {o.outcome}: {o.test_id}: {o.message.splitlines()[0][:400] if o.message else ''}"
            for o in self.outcomes
            if o.outcome in ("failed", "error")
        )
        tail = "\n".join(self.output.splitlines()[-15:])
        return f"rc {self.rc}, {self.seconds:.1f} s{(', ' + self.problem) if self.problem else ''}\n{bad}\n{tail}"


def run(args: list[str], cwd: Path, xml: Path, timeout_s: float) -> SuiteRun:
    """`python -m pytest -m jetson -p no:randomly -q -rfEs ARGS --junitxml=XML` in `cwd`, within `timeout_s`."""
    cmd = [sys.executable, "-m", "pytest", "-m", "jetson", "-p", "no:randomly", "-q", "-rfEs", *args,
           f"--junitxml={xml}"]
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s,
                              env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return SuiteRun(time.monotonic() - started, None, out, [], f"did not finish within {timeout_s:g} s")
    seconds = time.monotonic() - started
    try:
        outcomes = junit.read(xml)
    except ValueError as exc:
        return SuiteRun(seconds, proc.returncode, proc.stdout + proc.stderr, [], str(exc))
    return SuiteRun(seconds, proc.returncode, proc.stdout + proc.stderr, outcomes)
