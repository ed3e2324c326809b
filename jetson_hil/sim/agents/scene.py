"""The simulated ``scene`` agent: what the embeddings say about where the player is.

Run: ``python3 /app/agents/scene.py``. Subscribes to ``vision/embeddings`` and ``vision/guard``; publishes
``progress/understanding`` at ``SCENE_RATE`` Hz (default 2) with an ``embeddings`` block (dim, model,
measured rate, the guard's latest verdict, last seq) and a ``locations`` block (current, confidence, since).

Each embedding is matched to the nearest location centroid (cosine) from ``SCENE_LOCATIONS``
(default ``/data/locations.json``, written by ``vl_jepa.py --collect-centroids``); frames the guard calls
``non_game`` do not vote. The current location changes only when a new one wins 3 of the last 5 votes,
so it is stable across a visit. Live faults (``live_faults``): ``flapping_locations`` (the location changes on
nearly every message, as an unsmoothed classifier would), ``scene_silent`` (keeps reading, publishes nothing) and
``scene_stale_embeddings`` (after its first embedding it takes in no more: its understanding keeps publishing
the old embeddings block).
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import json  # noqa: E402
import time  # noqa: E402
from collections import Counter, deque  # noqa: E402
from typing import Any  # noqa: E402

import mqttio  # noqa: E402
import numpy as np  # noqa: E402
from live_faults import LiveFaults  # noqa: E402

AGENT = "scene"
LOCATIONS_FILE = "/data/locations.json"
RATE_WINDOW_S = 5.0
VOTES = 5
SWITCH_VOTES = 3
GUARD_WAIT_S = 1.0


def say(message: str) -> None:
    mqttio.log(AGENT, message)


class Scene:
    """State built from the two input topics; ``understanding()`` is the next payload."""

    def __init__(self, locations_path: str, faults: LiveFaults):
        self.file = mqttio.JsonFile(locations_path)
        self.faults = faults
        self.seq = 0
        self.arrivals: deque[float] = deque()
        self.first_arrival = 0.0
        self.last: dict[str, Any] = {}
        self.guard: dict[str, Any] = {}
        self.verdicts: dict[int, str] = {}
        self.pending: dict[int, tuple[str, float]] = {}
        self.votes: deque[str] = deque(maxlen=VOTES)
        self.current: str | None = None
        self.since: float | None = None
        self.names: list[str] = []
        self.matrix: np.ndarray | None = None
        self.problem: str | None = None
        self._logged: str | None = None

    def _note(self, problem: str | None) -> None:
        self.problem = problem
        if problem != self._logged:
            if problem:
                say(problem)
            self._logged = problem

    def _load_locations(self) -> None:
        if not self.file.refresh():
            return
        data = self.file.data
        self.names, self.matrix = [], None
        if data is None:
            self._note(f"no location centroids: {self.file.error}")
            return
        table = data.get("locations") if isinstance(data.get("locations"), dict) else {}
        rows = []
        for name, vector in table.items():
            if isinstance(vector, list) and vector:
                v = np.asarray(vector, dtype=np.float64)
                rows.append(v / max(float(np.linalg.norm(v)), 1e-12))
                self.names.append(name)
        if not rows or len({r.shape[0] for r in rows}) != 1:
            self.names = []
            self._note(f"{self.file.path} has no usable location centroids")
            return
        self.matrix = np.stack(rows)
        self._note(None)
        say(f"location centroids loaded: {', '.join(self.names)} (dim {self.matrix.shape[1]})")

    def on_embedding(self, payload: bytes, received: float) -> None:
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            return
        if not isinstance(data, dict):
            return
        self.arrivals.append(received)
        self.first_arrival = self.first_arrival or received
        self.last = {k: data.get(k) for k in ("seq", "ts", "dim", "model", "device", "backend", "dtype")}
        values = data.get("embedding")
        seq = data.get("seq")
        self._load_locations()
        if self.matrix is None or not isinstance(values, list) or not isinstance(seq, int):
            return
        try:
            vector = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            return
        if vector.ndim != 1 or vector.shape[0] != self.matrix.shape[1]:
            self._note(f"embedding dim {vector.shape[0]} != location centroid dim {self.matrix.shape[1]}")
            return
        if not np.all(np.isfinite(vector)):
            return
        self._note(None)
        scores = self.matrix @ (vector / max(float(np.linalg.norm(vector)), 1e-12))
        self.pending[seq] = (self.names[int(np.argmax(scores))], time.monotonic())

    def on_guard(self, payload: bytes) -> None:
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            return
        if not isinstance(data, dict):
            return
        self.guard = {"verdict": data.get("verdict"), "state": data.get("state"), "at": time.monotonic()}
        seq = data.get("embedding_seq")
        if isinstance(seq, int) and data.get("verdict") in ("game", "non_game"):
            self.verdicts[seq] = data["verdict"]
            if len(self.verdicts) > 200:
                for old in sorted(self.verdicts)[:100]:
                    del self.verdicts[old]

    def _vote(self) -> None:
        """Settle pending frames: the guard's verdict when known, else count it after GUARD_WAIT_S."""
        now = time.monotonic()
        for seq in sorted(self.pending):
            location, at = self.pending[seq]
            verdict = self.verdicts.get(seq)
            if verdict is None and now - at < GUARD_WAIT_S:
                continue
            del self.pending[seq]
            if verdict == "non_game":
                continue
            self.votes.append(location)
            top, count = Counter(self.votes).most_common(1)[0]
            if top != self.current and (self.current is None or count >= SWITCH_VOTES):
                self.current, self.since = top, round(time.time(), 3)

    def understanding(self) -> dict[str, Any]:
        self._load_locations()
        self._vote()
        now = time.time()
        while self.arrivals and now - self.arrivals[0] > RATE_WINDOW_S:
            self.arrivals.popleft()
        span = min(RATE_WINDOW_S, now - self.first_arrival) if self.first_arrival else 0.0
        rate = len(self.arrivals) / span if span > 0.5 else 0.0
        fresh_guard = self.guard and time.monotonic() - self.guard.get("at", 0) < 5.0
        last_ts = self.last.get("ts") if isinstance(self.last.get("ts"), (int, float)) else None
        embeddings = {
            "dim": self.last.get("dim"),
            "model": self.last.get("model"),
            "device": self.last.get("device"),
            "rate_hz": round(rate, 3),
            "guard": self.guard.get("verdict") if fresh_guard else None,
            "guard_state": self.guard.get("state") if fresh_guard else None,
            "last_seq": self.last.get("seq"),
            "age_s": round(now - last_ts, 3) if last_ts is not None else None,
        }
        flapped = self.faults.flapped_location(self.names)
        if flapped is not None:
            self.current, self.since = flapped, round(now, 3)
            confidence = round(1.0 / len(self.names), 3)
        else:
            counts = Counter(self.votes)
            confidence = round(counts[self.current] / len(self.votes), 3) if self.current and self.votes else 0.0
        locations: dict[str, Any] = {"current": self.current, "confidence": confidence, "since": self.since}
        if self.problem:
            locations["error"] = self.problem
        self.seq += 1
        return {"seq": self.seq, "ts": round(now, 6), "embeddings": embeddings, "locations": locations}


def main() -> int:
    mqttio.exit_on_sigterm()
    rate = mqttio.env_number("SCENE_RATE", 2.0, AGENT, low=0.01)
    path = os.environ.get("SCENE_LOCATIONS") or LOCATIONS_FILE
    scene = Scene(path, LiveFaults())
    say(f"starting: rate={rate:g}Hz locations={path}")
    scene._load_locations()
    bus = mqttio.Bus(AGENT, subscribe=[mqttio.TOPIC_EMBEDDINGS, mqttio.TOPIC_GUARD]).start()
    period = 1.0 / rate
    due = time.monotonic() + period
    try:
        while True:
            message = bus.get(timeout=due - time.monotonic())
            if message is not None:
                if message.topic == mqttio.TOPIC_EMBEDDINGS:
                    if scene.faults.scene_takes_embeddings(bool(scene.last)):
                        scene.on_embedding(message.payload, message.received)
                elif message.topic == mqttio.TOPIC_GUARD:
                    scene.on_guard(message.payload)
            now = time.monotonic()
            if now >= due:
                understanding = scene.understanding()
                if scene.faults.scene_publishes():
                    bus.publish(mqttio.TOPIC_UNDERSTANDING, mqttio.dumps(understanding))
                due += period * max(1, int((now - due) / period) + 1)
    finally:
        bus.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
