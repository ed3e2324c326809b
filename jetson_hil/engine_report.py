"""tools/jetson/inspect_engine.py's report on a TensorRT engine (Task 5), parsed.

The tool prints one ``key value`` pair a line (``loaded True``, ``input images 1x3x224x224``, ``error ...``);
inputs, outputs and errors may repeat.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EngineInspection:
    """inspect_engine.py's report: its fields, inputs and outputs, and the raw output."""

    path: str
    rc: int
    output: str
    fields: dict[str, str] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def number(self, key: str) -> int | None:
        value = self.fields.get(key, "")
        return int(value) if value.isdigit() else None

    @property
    def loaded(self) -> bool:
        return self.fields.get("loaded") == "True"


def parse_engine_report(path: str, rc: int, text: str) -> EngineInspection:
    """The report of `text` (the tool's stdout, exit status `rc`, for the engine at `path`).

    >>> r = parse_engine_report("/e.engine", 0, "loaded True\\ninput images 1x3x224x224\\noutput emb 1x384\\n")
    >>> r.loaded, r.inputs, r.outputs
    (True, ['images 1x3x224x224'], ['emb 1x384'])
    """
    report = EngineInspection(path, rc, text)
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "input":
            report.inputs.append(value)
        elif key == "output":
            report.outputs.append(value)
        elif key == "error":
            report.errors.append(value)
        elif key:
            report.fields[key] = value
    return report
