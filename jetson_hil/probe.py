"""The output of `tools/jetson/check_torch_cuda.py` (Task 2's probe), read back into a verdict.

The probe prints `key value` lines (see its docstring). What it runs in can add anything around them:
PyTorch warnings, a traceback on stderr merged into `docker exec` output, a shell's complaint; those lines
are kept, in order, as other_lines, so a diagnosis can still match them. The probe's `--json` form is read
too.

>>> r = parse_probe("torch 2.13.0+cpu\\ncuda_available False\\ncuda_version None\\nresult fail\\n")
>>> r.cuda_available, r.cuda_version, r.passed
(False, None, False)
>>> r.failures()[0]
'cuda_available is False; expected True (torch.version.cuda is None: a CPU-only torch build)'
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from jetson_hil.errors import ParseError

__all__ = ["CHECKS", "ParseError", "ProbeError", "ProbeResult", "ProbeRun", "parse_probe"]

# The numerical checks the probe runs when CUDA is available; each prints `<name> True|False`.
CHECKS = ("cuda_matmul_ok", "cuda_fp16_ok", "cudnn_conv_ok")

KNOWN_KEYS = frozenset(
    {
        "torch", "python", "cuda_available", "cuda_version", "cudnn", "device_count", "device", "capability",
        "arch_list", "sm_supported", "nvidia_visible_devices", "dev_nvmap", "checks_skipped", "result",
        "error", "error_step",
    }
)  # fmt: skip
_CHECK_KEY = re.compile(r"[a-z][a-z0-9_]*_(?:ok|max_err)")
_LINE = re.compile(r"([a-z][a-z0-9_]*)(?:[ \t]+(.*?))?[ \t]*")


@dataclass(frozen=True)
class ProbeError:
    """One `error_step` / `error` pair: the step that raised, the exception type and its first line."""

    step: str | None
    type: str
    message: str

    def __str__(self) -> str:
        text = f"{self.type}: {self.message}" if self.message else self.type
        return f"{self.step}: {text}" if self.step else text


def _bool(value: str | None) -> bool | None:
    return {"True": True, "False": False, "true": True, "false": False}.get(value or "")


def _none(value: str | None) -> str | None:
    return None if value in (None, "", "None", "null") else value


@dataclass
class ProbeResult:
    """What the probe reported: the raw fields plus typed accessors and a verdict."""

    fields: dict[str, str] = field(default_factory=dict)
    step_errors: list[ProbeError] = field(default_factory=list)
    other_lines: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """Each caught exception as the probe printed it: 'RuntimeError: CUDA error: ...'."""
        return [f"{e.type}: {e.message}" if e.message else e.type for e in self.step_errors]

    @property
    def torch_version(self) -> str | None:
        return _none(self.fields.get("torch"))

    @property
    def cuda_available(self) -> bool | None:
        return _bool(self.fields.get("cuda_available"))

    @property
    def cuda_version(self) -> str | None:
        """torch.version.cuda: None for a CPU-only build."""
        return _none(self.fields.get("cuda_version"))

    @property
    def cudnn(self) -> int | None:
        value = _none(self.fields.get("cudnn"))
        return int(value) if value is not None and re.fullmatch(r"[0-9]+", value) else None

    @property
    def device_count(self) -> int | None:
        value = _none(self.fields.get("device_count"))
        return int(value) if value is not None and re.fullmatch(r"[0-9]+", value) else None

    @property
    def device(self) -> str | None:
        return _none(self.fields.get("device"))

    @property
    def capability(self) -> tuple[int, int] | None:
        m = re.fullmatch(r"([0-9]+)\.([0-9]+)", self.fields.get("capability", "").strip())
        return (int(m[1]), int(m[2])) if m else None

    @property
    def arch_list(self) -> list[str]:
        value = _none(self.fields.get("arch_list"))
        return value.split() if value else []

    @property
    def sm_supported(self) -> bool | None:
        """Whether sm_<capability> is in the wheel's arch list (None when either is unknown)."""
        reported = _bool(self.fields.get("sm_supported"))
        if reported is not None:
            return reported
        if self.capability and self.arch_list:
            return "sm_{}{}".format(*self.capability) in self.arch_list
        return None

    @property
    def checks(self) -> dict[str, bool]:
        """The numerical checks reported, name -> passed (a value other than True counts as failed)."""
        return {k: _bool(v) is True for k, v in self.fields.items() if k.endswith("_ok")}

    @property
    def max_errors(self) -> dict[str, float]:
        """`<check>_max_err` values: the largest absolute difference from the CPU result."""
        out = {}
        for k, v in self.fields.items():
            if k.endswith("_max_err"):
                try:
                    out[k[: -len("_max_err")]] = float(v)
                except ValueError:
                    out[k[: -len("_max_err")]] = math.nan
        return out

    @property
    def result(self) -> str | None:
        """'pass', 'fail', or None when the probe did not get to its last line."""
        return _none(self.fields.get("result"))

    @property
    def passed(self) -> bool:
        """result pass, CUDA available, and every check reported and true."""
        checks = self.checks
        return (
            self.result == "pass"
            and self.cuda_available is True
            and all(name in checks for name in CHECKS)
            and all(checks.values())
        )

    def failures(self) -> list[str]:
        """One line per thing that failed, naming the value seen and the one expected; [] when passed."""
        out: list[str] = []
        if "torch" in self.fields and self.torch_version is None:
            out.append("torch could not be imported; expected an importable CUDA build of torch")
        if self.cuda_available is not True:
            seen = self.fields.get("cuda_available", "not reported")
            why = ""
            if self.cuda_available is False and "cuda_version" in self.fields and self.cuda_version is None:
                why = " (torch.version.cuda is None: a CPU-only torch build)"
            elif self.cuda_available is False and self.cuda_version:
                why = f" (torch is built for CUDA {self.cuda_version} but sees no GPU)"
            out.append(f"cuda_available is {seen}; expected True{why}")
        if self.sm_supported is False and self.capability:
            sm = "sm_{}{}".format(*self.capability)
            out.append(f"{sm} not in arch_list [{' '.join(self.arch_list)}]; expected the wheel to include {sm}")
        checks = self.checks
        if self.cuda_available:
            for name in CHECKS:
                if name not in checks:
                    out.append(f"{name} not reported; expected True")
        for name, ok in checks.items():
            if not ok:
                check = name[: -len("_ok")]
                err = self.max_errors.get(check)
                detail = f" (max abs error {err:.3g} vs the CPU)" if err is not None and not math.isnan(err) else ""
                out.append(f"{name} is {self.fields[name]}{detail}; expected True")
        for error in self.step_errors:
            out.append(f"error in step {error.step or '?'}: {error.type}: {error.message}".rstrip(": "))
        if self.result is None:
            out.append("no 'result' line; expected 'result pass' (the probe did not finish)")
        elif self.result != "pass" and not out:
            out.append(f"result is {self.result!r}; expected 'pass'")
        return out


def _split_error(text: str) -> tuple[str, str]:
    name, sep, message = text.partition(": ")
    if sep and re.fullmatch(r"[A-Za-z_][\w.]*", name):
        return name, message
    if re.fullmatch(r"[A-Za-z_][\w.]*:?", text):
        return text.rstrip(":"), ""
    return "Error", text


def _from_json(data: dict[str, Any]) -> ProbeResult:
    result = ProbeResult()
    for key, value in data.items():
        if key in ("errors", "error_steps"):
            continue
        if isinstance(value, list):
            text = " ".join(str(v) for v in value) if value else "None"
        elif value is None:
            text = "None"
        elif isinstance(value, float):
            text = repr(value)
        else:
            text = str(value)
        result.fields[str(key)] = text
    errors = data.get("errors") or []
    steps = data.get("error_steps") or []
    if not isinstance(errors, list) or not isinstance(steps, list):
        raise ParseError("probe JSON: errors and error_steps must be lists", json.dumps(data)[:200])
    for i, text in enumerate(errors):
        name, message = _split_error(str(text))
        result.step_errors.append(ProbeError(str(steps[i]) if i < len(steps) else None, name, message))
    return result


def parse_probe(text: str) -> ProbeResult:
    """Read the probe's output (key-value lines, or its --json object on one line).

    Never fails on extra lines: anything that is not a probe line goes to other_lines. ParseError only when
    text is not a str-like input the probe could have written (e.g. a JSON object of the wrong shape).
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_probe needs a str, got {type(text).__name__}")
    result = ProbeResult()
    pending_step: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("{") and stripped.endswith("}"):
            try:
                data = json.loads(stripped)
            except ValueError:
                data = None
            if isinstance(data, dict) and "result" in data:
                parsed = _from_json(data)
                result.fields.update(parsed.fields)
                result.step_errors.extend(parsed.step_errors)
                continue
        m = _LINE.fullmatch(line)
        key = m[1] if m else None
        if key is None or not (key in KNOWN_KEYS or _CHECK_KEY.fullmatch(key)):
            result.other_lines.append(line)
            continue
        value = (m[2] if m else None) or ""
        if key == "error_step":
            pending_step = value
        elif key == "error":
            name, message = _split_error(value)
            result.step_errors.append(ProbeError(pending_step, name, message))
            pending_step = None
        else:
            result.fields[key] = value
    return result


@dataclass
class ProbeRun:
    """Task 2's probe: check_torch_cuda.py copied into the agent container and run there."""

    container: str
    ran: bool
    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    log_tail: str = ""
    not_run_reason: str = ""
    seconds: float = 0.0
    status: str | None = None

    @property
    def output(self) -> str:
        return self.stdout + (f"\n--- stderr ---\n{self.stderr}" if self.stderr.strip() else "")
