"""Windows of evidence turned into the numbers the checks hold to limits.

The recorders keep raw messages and telemetry samples; a test takes a window of them and hands it here.
Everything is pure (no waiting, no I/O) and never raises on bad payloads: they are counted and quoted.

>>> ev = summarize_embeddings(recorder.window("vision/embeddings", 10), profile, window_s=10)  # doctest: +SKIP
>>> ev.rate_hz, ev.problems[:1]                                                                 # doctest: +SKIP
(4.9, [])
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jetson_hil.payloads import (
    MISSING,
    check_embedding,
    constant_fraction,
    embedding_vector,
    get_path,
    rate_hz,
    seq_gaps,
    seq_resets,
)

__all__ = ["EmbeddingsEvidence", "gpu_loads", "percentile", "summarize_embeddings"]

MAX_PROBLEMS = 20


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100, linear interpolation) of finite values; None when there are none."""
    clean = sorted(v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))
    if not clean:
        return None
    k = (len(clean) - 1) * min(max(q, 0.0), 100.0) / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return clean[lo] + (clean[hi] - clean[lo]) * (k - lo)


@dataclass
class EmbeddingsEvidence:
    """What one window of `vision/embeddings` shows.

    `problems` holds the first MAX_PROBLEMS findings, each prefixed with the message's recorder seq;
    `bad_messages` counts every message with at least one problem. Latency is receive time minus the
    publisher's `ts` (seconds since the epoch), in ms.
    """

    count: int = 0
    window_s: float | None = None
    rate_hz: float = 0.0
    bad_messages: int = 0
    problems: list[str] = field(default_factory=list)
    seq_gaps: list[tuple[int, int]] = field(default_factory=list)
    seq_resets: list[tuple[int, int]] = field(default_factory=list)
    constant_fraction: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    devices: Counter = field(default_factory=Counter)
    dtypes: Counter = field(default_factory=Counter)
    backends: Counter = field(default_factory=Counter)
    models: Counter = field(default_factory=Counter)
    dims: Counter = field(default_factory=Counter)

    @property
    def latency_p50_ms(self) -> float | None:
        return percentile(self.latencies_ms, 50)

    @property
    def latency_p95_ms(self) -> float | None:
        return percentile(self.latencies_ms, 95)

    @property
    def latency_max_ms(self) -> float | None:
        return percentile(self.latencies_ms, 100)


def _seen(counter: Counter, value: Any) -> None:
    counter["<missing>" if value is MISSING else repr(value) if not isinstance(value, str) else value] += 1


def summarize_embeddings(messages: Sequence[Any], profile: Any, window_s: float | None = None) -> EmbeddingsEvidence:
    """Summarizes recorder messages (anything with `.payload`, `.received`, `.seq`, and `.decode()`).

    `profile` is a DeviceProfile (its fields, expect and limits are used). With `window_s` the rate is the
    count over the window, which is what a rate limit means; without, it comes from the first and last
    receive times.
    """
    fields, expect, limits = profile.fields, profile.expect, profile.limits
    ev = EmbeddingsEvidence(count=len(messages), window_s=window_s)
    ev.rate_hz = rate_hz([m.received for m in messages], window_s=window_s)
    seqs: list[Any] = []
    vectors: list[list[float] | None] = []
    for m in messages:
        obj, problem = m.decode()
        found = [problem] if problem else check_embedding(obj, fields, expect.dim, limits.norm_min, limits.norm_max)
        if found:
            ev.bad_messages += 1
            for p in found:
                if len(ev.problems) < MAX_PROBLEMS:
                    ev.problems.append(f"message {m.seq}: {p}")
        if obj is None:
            vectors.append(None)
            continue
        vectors.append(embedding_vector(obj, fields))
        seqs.append(get_path(obj, fields.seq, None))
        ts = get_path(obj, fields.ts)
        if isinstance(ts, (int, float)) and not isinstance(ts, bool) and math.isfinite(ts):
            ev.latencies_ms.append((m.received - float(ts)) * 1000.0)
        _seen(ev.devices, get_path(obj, fields.device))
        _seen(ev.dtypes, get_path(obj, fields.dtype))
        _seen(ev.backends, get_path(obj, fields.backend))
        _seen(ev.models, get_path(obj, fields.model))
        _seen(ev.dims, get_path(obj, fields.dim))
    ev.seq_gaps = seq_gaps(seqs, max_missing=limits.max_seq_gap)
    ev.seq_resets = seq_resets(seqs)
    ev.constant_fraction = constant_fraction(vectors)
    return ev


def gpu_loads(samples: Iterable[Any]) -> list[float]:
    """GPU load percentages of telemetry samples (`Sample` or bare parsed samples); absent readings skipped."""
    out = []
    for s in samples:
        sample = getattr(s, "sample", s)
        load = getattr(sample, "gpu_load_percent", None)
        if load is None and isinstance(sample, dict):
            load = sample.get("gpu_load_percent")
        if isinstance(load, (int, float)) and not isinstance(load, bool) and math.isfinite(load):
            out.append(float(load))
    return out
