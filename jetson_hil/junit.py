"""Read a pytest JUnit XML file into per-test outcomes, for runs of the suite in a subprocess."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Outcome:
    test_id: str  # tests/mqtt/test_task3_gpu_embeddings.py::test_embeddings_rate[...]
    outcome: str  # passed | failed | error | skipped
    message: str  # failure, error or skip message with its text
    seconds: float


def _test_id(case: ET.Element) -> str:
    classname, name = case.get("classname", ""), case.get("name", "")
    parts = classname.split(".")
    # pytest writes tests.mqtt.test_task3_gpu_embeddings for tests/mqtt/test_task3_gpu_embeddings.py
    path = "/".join(parts) + ".py"
    return f"{path}::{name}"


def read(path: str | Path) -> list[Outcome]:
    """Outcomes of every test case in the file; a missing or broken file raises ValueError with its path."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ValueError(f"{path}: no readable JUnit XML ({exc})") from None
    outcomes = []
    for case in root.iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = "\n".join(p for p in (el.get("message", ""), el.text or "") if p)
                break
        outcomes.append(Outcome(_test_id(case), outcome, message, float(case.get("time", 0) or 0)))
    return outcomes
