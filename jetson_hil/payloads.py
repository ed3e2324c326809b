"""Reading and judging the agents' MQTT payloads.

The recorder stores raw bytes; these functions turn them into findings. None of them raise on bad input
(wrong types, NaN, non-UTF-8, huge or deeply nested payloads): a validator returns a list of problems,
each naming the field, the value seen and what was expected, so a test can report all of them at once.

>>> obj, problem = decode(b'{"embedding": [0.1, 0.2], "seq": 7}')
>>> check_embedding(obj, "embedding", expect_dim=3, norm_min=0.01, norm_max=10)
['embedding: length 2, expected dim 3']
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import Any

__all__ = [
    "MISSING",
    "changes_per_minute",
    "check_embedding",
    "check_value",
    "constant_fraction",
    "decode",
    "embedding_vector",
    "get_path",
    "rate_hz",
    "seq_gaps",
    "seq_resets",
]

MAX_DECODE_BYTES = 64 * 1024 * 1024
_PREVIEW = 60


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()
"""The default of `get_path` for a path that is not there (distinct from a JSON null)."""


def _preview(value: Any) -> str:
    """A short repr of a value for a problem message."""
    try:
        text = repr(value)
    except Exception:  # a pathological object must not break a report
        text = f"<{type(value).__name__}>"
    return text if len(text) <= _PREVIEW else text[:_PREVIEW] + "..."


def _type_name(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "number"
    return names.get(type(value), type(value).__name__)


def _path_of(fields: Any, attribute: str) -> str:
    """Accepts a `FieldPaths` (reads `attribute`) or a dotted path string."""
    return fields if isinstance(fields, str) else getattr(fields, attribute)


def get_path(obj: Any, path: str, default: Any = MISSING) -> Any:
    """The value at a dotted path (``"locations.current"``; a numeric part indexes a list), or `default`.

    >>> get_path({"a": {"b": [10, 20]}}, "a.b.1")
    20
    """
    current = obj
    for part in path.split("."):
        if isinstance(current, dict):
            if part not in current:
                return default
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(current) <= index < len(current):
                return default
            current = current[index]
        else:
            return default
    return current


def decode(raw: bytes | bytearray | memoryview | str, max_bytes: int = MAX_DECODE_BYTES) -> tuple[Any, str | None]:
    """(object, None) for a JSON object payload, else (None, problem). Never raises.

    NaN and Infinity are accepted as JSON numbers here (Python's json does), so that the checks can
    report them as non-finite values of the field they are in rather than as an unreadable payload.
    """
    size = len(raw)
    if size > max_bytes:
        return None, f"payload is {size} bytes, over the {max_bytes}-byte limit"
    if isinstance(raw, str):
        text = raw
    else:
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, (
                f"payload is not UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}): "
                f"{_preview(bytes(raw[:40]))}"
            )
    if not text.strip():
        return None, "payload is empty, expected a JSON object"
    try:
        obj = json.loads(text)
    except RecursionError:
        return None, "payload is invalid JSON: nested too deeply"
    except ValueError as exc:  # JSONDecodeError, and int conversions over the digit limit
        return None, f"payload is invalid JSON ({exc}): {_preview(text[:40])}"
    if not isinstance(obj, dict):
        return None, f"payload is a JSON {_type_name(obj)}, expected an object: {_preview(obj)}"
    return obj, None


def _number_state(value: Any) -> str:
    """'ok', 'nonfinite' (NaN, infinity, an int too big for a float) or 'notnumber'; bools are not numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "notnumber"
    if isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            return "nonfinite"
        return "ok"
    return "ok" if math.isfinite(value) else "nonfinite"


def embedding_vector(obj: Any, fields: Any) -> list[float] | None:
    """The embedding as floats when it is a non-empty list of finite numbers, else None."""
    value = get_path(obj, _path_of(fields, "embedding")) if isinstance(obj, dict) else MISSING
    if not isinstance(value, list) or not value:
        return None
    if any(_number_state(v) != "ok" for v in value):
        return None
    return [float(v) for v in value]


def _norm(vector: Sequence[float]) -> float:
    # hypot scales internally, so very large components do not overflow to inf on the way.
    return math.hypot(*vector)


def check_embedding(obj: Any, fields: Any, expect_dim: int, norm_min: float, norm_max: float) -> list[str]:
    """Problems with the embedding in one decoded payload; [] when it is sane.

    Checks: present, a list, only finite numbers (booleans are not numbers), length == `expect_dim`,
    not all zero, L2 norm within [norm_min, norm_max]. When the payload declares a dimension
    (`fields.dim`), that must equal `expect_dim` too. `fields` is a `FieldPaths` or the embedding's path.
    """
    path = _path_of(fields, "embedding")
    if not isinstance(obj, dict):
        return [f"payload is a JSON {_type_name(obj)}, expected an object with {path}"]
    problems: list[str] = []
    if not isinstance(fields, str):
        declared = get_path(obj, fields.dim)
        if declared is not MISSING and (_number_state(declared) != "ok" or declared != expect_dim):
            problems.append(f"{fields.dim}: {_preview(declared)}, expected {expect_dim}")
    value = get_path(obj, path)
    if value is MISSING:
        return [*problems, f"{path}: missing, expected a list of {expect_dim} numbers"]
    if not isinstance(value, list):
        seen = f"a JSON {_type_name(value)} ({_preview(value)})"
        return [*problems, f"{path}: {seen}, expected a list of {expect_dim} numbers"]
    bad_type = [i for i, v in enumerate(value) if _number_state(v) == "notnumber"]
    bad_value = [i for i, v in enumerate(value) if _number_state(v) == "nonfinite"]
    if bad_type:
        first = bad_type[0]
        problems.append(
            f"{path}: {len(bad_type)} of {len(value)} elements are not numbers "
            f"(first at [{first}]: {_preview(value[first])}), expected numbers"
        )
    if bad_value:
        first = bad_value[0]
        problems.append(
            f"{path}: {len(bad_value)} of {len(value)} values are not finite "
            f"(first at [{first}]: {_preview(value[first])}), expected finite numbers"
        )
    if len(value) != expect_dim:
        problems.append(f"{path}: length {len(value)}, expected dim {expect_dim}")
    if bad_type or bad_value or not value:
        return problems
    vector = [float(v) for v in value]
    if not any(vector):
        problems.append(f"{path}: all {len(vector)} values are zero, expected a non-zero embedding")
        return problems
    norm = _norm(vector)
    if not norm_min <= norm <= norm_max:
        problems.append(f"{path}: L2 norm {norm:.6g}, expected within [{norm_min:g}, {norm_max:g}]")
    return problems


def check_value(obj: Any, path: str, expected: Any) -> list[str]:
    """[] when the value at `path` equals `expected`, else one problem naming both.

    >>> check_value({"device": "cpu"}, "device", "cuda")
    ["device: 'cpu', expected 'cuda'"]
    """
    if not isinstance(obj, dict):
        return [f"payload is a JSON {_type_name(obj)}, expected an object with {path}"]
    value = get_path(obj, path)
    if value is MISSING:
        return [f"{path}: missing, expected {expected!r}"]
    if type(value) is not type(expected) and not (_number_state(value) == "ok" and _number_state(expected) == "ok"):
        return [f"{path}: {_preview(value)} ({_type_name(value)}), expected {expected!r}"]
    if value != expected:
        return [f"{path}: {_preview(value)}, expected {expected!r}"]
    return []


def constant_fraction(vectors: Sequence[Sequence[float] | None], rel_tol: float = 1e-6) -> float:
    """The fraction of frames whose embedding equals the previous frame's (a stuck encoder gives ~1.0).

    Two vectors are equal when they have the same length and ``|a - b| <= rel_tol * max(|a|, |b|)``.
    `None` entries (frames without a usable embedding) break the chain and count as not constant.
    Returns 0.0 for fewer than two frames.
    """
    if len(vectors) < 2:
        return 0.0
    same = 0
    for previous, current in pairwise(vectors):
        if previous is None or current is None or len(previous) != len(current):
            continue
        diff = _norm([a - b for a, b in zip(previous, current, strict=True)])
        scale = max(_norm(previous), _norm(current))
        if diff <= rel_tol * scale or diff == 0.0:
            same += 1
    return same / (len(vectors) - 1)


def _as_seq(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def seq_gaps(seqs: Iterable[Any], max_missing: int = 0) -> list[tuple[int, int]]:
    """Consecutive pairs (a, b) where seq did not advance normally.

    A pair is listed when more than `max_missing` numbers are missing between them (``b - a - 1 >
    max_missing``) or when seq went backwards or repeated (``b <= a``: a publisher restart/reset; see
    `seq_resets`). Values that are not integers are skipped.

    >>> seq_gaps([1, 2, 5, 6, 0, 1])
    [(2, 5), (6, 0)]
    """
    clean = [s for s in (_as_seq(v) for v in seqs) if s is not None]
    return [(a, b) for a, b in pairwise(clean) if b <= a or b - a - 1 > max_missing]


def seq_resets(seqs: Iterable[Any]) -> list[tuple[int, int]]:
    """Consecutive pairs (a, b) with b <= a: the publisher restarted or repeated a frame."""
    clean = [s for s in (_as_seq(v) for v in seqs) if s is not None]
    return [(a, b) for a, b in pairwise(clean) if b <= a]


def _clean_times(times: Iterable[Any]) -> list[float]:
    return [float(t) for t in times if _number_state(t) == "ok"]


def rate_hz(times: Iterable[float], window_s: float | None = None) -> float:
    """Message rate from receive timestamps.

    With `window_s`, the count over the window (right when the window is the evidence window: one
    message in 10 s is 0.1 Hz). Without, (n - 1) / (last - first); 0.0 for fewer than two messages and
    ``inf`` for several at one instant.
    """
    clean = _clean_times(times)
    if window_s is not None:
        return len(clean) / window_s if window_s > 0 else math.inf if clean else 0.0
    if len(clean) < 2:
        return 0.0
    span = max(clean) - min(clean)
    return (len(clean) - 1) / span if span > 0 else math.inf


def changes_per_minute(values: Sequence[Any], times: Sequence[float], window_s: float | None = None) -> float:
    """How often consecutive values differ, per minute (location flapping).

    The span is `window_s` when given, else from the first to the last time. 0.0 when nothing changed.
    """
    changes = sum(1 for a, b in pairwise(values) if a != b)
    if changes == 0:
        return 0.0
    if window_s is not None:
        span = window_s
    else:
        clean = _clean_times(times)
        span = max(clean) - min(clean) if len(clean) >= 2 else 0.0
    return changes * 60.0 / span if span > 0 else math.inf
