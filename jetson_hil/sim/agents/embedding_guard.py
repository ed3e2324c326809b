"""The simulated ``embedding_guard`` agent: is this embedding the game or something else?

Run: ``python3 /app/agents/embedding_guard.py``. Subscribes to ``vision/embeddings``, publishes one message
on ``vision/guard`` per embedding it reads.

Environment: ``EMBEDDING_GUARD_MODE`` (``run`` | ``collect_game`` | ``collect_non``), ``EMBEDDING_GUARD_DIM``
(expected embedding length; unset accepts any), ``EMBEDDING_GUARD_CENTROIDS`` (``/data/centroids.json``),
``EMBEDDING_GUARD_TOPIC`` (where verdicts go, ``vision/guard``), plus the MQTT variables of ``mqttio``.

* ``run``: cosine similarity to the two class centroids; the nearer one is the ``verdict`` and its
  similarity the ``score``. The centroid file is re-read when it changes.
* ``collect_game`` / ``collect_non``: every embedding is a sample of that class; the class centroid is the
  running mean of unit vectors, written atomically (with ``dim`` and per-class ``samples``) after each one.
  Samples of another dim than the file's start new centroids.

Live fault (``live_faults``): ``guard_silent`` (reads and classifies, publishes nothing).

A dim that disagrees with ``EMBEDDING_GUARD_DIM`` (the embedding's or the centroids') is logged once, e.g.
``embedding dim 384 != EMBEDDING_GUARD_DIM 768``, and published as ``state: "error"`` with that text.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import mqttio  # noqa: E402
import numpy as np  # noqa: E402
from live_faults import LiveFaults  # noqa: E402

AGENT = "embedding_guard"
MODES = {"run": None, "collect_game": "game", "collect_non": "non_game"}
CENTROIDS = "/data/centroids.json"


def say(message: str) -> None:
    mqttio.log(AGENT, message)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


class Guard:
    """Turns embedding payloads into guard payloads; keeps the centroid file for the collect modes."""

    def __init__(self, mode: str, dim: int | None, path: str):
        self.mode = mode
        self.dim = dim
        self.path = path
        self.file = mqttio.JsonFile(path)
        self.seq = 0
        self._problem: str | None = None
        self._kind: str | None = None
        self._bad_payloads = 0
        self._last_bad_log = -math.inf

    def note(self, problem: str | None, kind: str | None = None) -> None:
        """Log each new kind of problem once (the first text of its kind), and its end."""
        kind = kind or problem
        if kind != self._kind:
            if problem:
                say(problem)
            elif self._problem:
                say(f"ok again ({self._problem})")
            self._problem, self._kind = problem, kind

    def _result(self, embedding: dict[str, Any], **fields: Any) -> dict[str, Any]:
        self.seq += 1
        out = {
            "seq": self.seq,
            "ts": round(time.time(), 6),
            "mode": self.mode,
            "dim": self.dim,
            "verdict": None,
            "score": None,
            "state": "ok",
            "embedding_seq": embedding.get("seq") if isinstance(embedding.get("seq"), int) else None,
            "frame_id": embedding.get("frame_id") if isinstance(embedding.get("frame_id"), int) else None,
        }
        out.update(fields)
        return out

    def _error(
        self, embedding: dict[str, Any], text: str, dim: int | None = None, kind: str | None = None
    ) -> dict[str, Any]:
        self.note(text, kind)
        return self._result(embedding, state="error", error=text, dim=self.dim if self.dim else dim)

    def handle(self, payload: bytes) -> dict[str, Any] | None:
        try:
            data = json.loads(payload)
            if not isinstance(data, dict):
                raise ValueError("payload is not a JSON object")
        except (ValueError, UnicodeDecodeError) as exc:
            self._bad_payloads += 1
            now = time.monotonic()
            if now - self._last_bad_log > 10:
                self._last_bad_log = now
                say(f"invalid JSON on {mqttio.TOPIC_EMBEDDINGS} ({self._bad_payloads} so far): {exc}")
            return None
        values = data.get("embedding")
        if not isinstance(values, list) or not values:
            return self._error(data, "payload has no embedding array")
        try:
            vector = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            return self._error(data, "embedding holds non-numbers")
        if vector.ndim != 1:
            return self._error(data, "embedding is not a flat array")
        n = int(vector.shape[0])
        if self.dim is not None and n != self.dim:
            return self._error(data, f"embedding dim {n} != EMBEDDING_GUARD_DIM {self.dim}", n)
        if not np.all(np.isfinite(vector)):
            bad = int(np.count_nonzero(~np.isfinite(vector)))
            return self._error(data, f"embedding has {bad} non-finite values (NaN/Inf)", n, kind="non-finite")
        if self.mode == "run":
            return self._classify(data, vector)
        return self._collect(data, vector, MODES[self.mode])

    def _centroids(self, n: int) -> tuple[dict[str, np.ndarray] | None, str | None]:
        self.file.refresh()
        data = self.file.data
        if data is None:
            return None, f"no centroids: {self.file.error}; collect them with collect_game and collect_non"
        classes = data.get("classes") if isinstance(data.get("classes"), dict) else {}
        stored_dim = data.get("dim")
        if self.dim is not None and stored_dim != self.dim:
            return None, f"centroid dim {stored_dim} != EMBEDDING_GUARD_DIM {self.dim}; re-collect the centroids"
        found = {}
        for name in ("game", "non_game"):
            entry = classes.get(name) if isinstance(classes.get(name), dict) else {}
            centroid = entry.get("centroid")
            if not isinstance(centroid, list) or not centroid:
                return None, f"centroids in {self.path} lack class {name!r}; run collect_{name.split('_')[0]}"
            found[name] = np.asarray(centroid, dtype=np.float64)
        for name, centroid in found.items():
            if centroid.shape[0] != n:
                return None, f"embedding dim {n} != centroid dim {centroid.shape[0]} ({name}); re-collect"
        return {k: _unit(v) for k, v in found.items()}, None

    def _classify(self, data: dict[str, Any], vector: np.ndarray) -> dict[str, Any]:
        centroids, problem = self._centroids(int(vector.shape[0]))
        if centroids is None:
            return self._error(data, problem or "no centroids", int(vector.shape[0]))
        self.note(None)
        unit = _unit(vector)
        scores = {name: float(unit @ c) for name, c in centroids.items()}
        verdict = max(scores, key=scores.get)
        other = "non_game" if verdict == "game" else "game"
        return self._result(
            data,
            dim=self.dim or int(vector.shape[0]),
            verdict=verdict,
            score=round(scores[verdict], 6),
            margin=round(scores[verdict] - scores[other], 6),
        )

    def _collect(self, data: dict[str, Any], vector: np.ndarray, cls: str) -> dict[str, Any]:
        n = int(vector.shape[0])
        self.file.refresh(force=True)
        stored = self.file.data or {}
        if stored.get("dim") != n or not isinstance(stored.get("classes"), dict):
            if stored:
                say(f"centroids in {self.path} have dim {stored.get('dim')}; starting new centroids at dim {n}")
            stored = {"dim": n, "model": data.get("model"), "classes": {}}
        entry = stored["classes"].get(cls) or {"centroid": [0.0] * n, "samples": 0}
        count = int(entry.get("samples", 0))
        mean = np.asarray(entry["centroid"], dtype=np.float64)
        mean = (mean * count + _unit(vector)) / (count + 1)
        stored["classes"][cls] = {"centroid": [float(f"{v:.6g}") for v in mean], "samples": count + 1}
        stored["model"] = data.get("model", stored.get("model"))
        stored["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        mqttio.write_json_atomic(self.path, stored)
        self.file.refresh(force=True)
        if count == 0 or (count + 1) % 10 == 0:
            say(f"{self.mode}: {count + 1} samples of {cls} at dim {n} in {self.path}")
        self.note(None)
        return self._result(data, dim=self.dim or n, state="collecting", samples=count + 1)


def main() -> int:
    mqttio.exit_on_sigterm()
    mode = (os.environ.get("EMBEDDING_GUARD_MODE") or "run").strip()
    if mode not in MODES:
        say(f"invalid EMBEDDING_GUARD_MODE={mode!r}: expected one of {', '.join(MODES)}")
        return 2
    raw_dim = (os.environ.get("EMBEDDING_GUARD_DIM") or "").strip()
    dim = mqttio.env_int("EMBEDDING_GUARD_DIM", 0, AGENT, low=1) if raw_dim else None
    path = os.environ.get("EMBEDDING_GUARD_CENTROIDS") or CENTROIDS
    topic = os.environ.get("EMBEDDING_GUARD_TOPIC") or mqttio.TOPIC_GUARD
    guard = Guard(mode, dim, path)
    say(f"starting: mode={mode} dim={dim if dim else 'any'} centroids={path} topic={topic}")
    if mode == "run" and dim:
        guard.note(guard._centroids(dim)[1])
    faults = LiveFaults()
    bus = mqttio.Bus(AGENT, subscribe=[mqttio.TOPIC_EMBEDDINGS]).start()
    try:
        while True:
            message = bus.get(timeout=1.0)
            if message is None:
                continue
            result = guard.handle(message.payload)
            if result is not None and faults.guard_publishes():
                bus.publish(topic, mqttio.dumps(result))
    finally:
        bus.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
