"""What the Docker engine says happened to the agents' containers while a run recorded.

The engine's own container events (stopped with an exit code, started, paused, unpaused, out of memory) name a
restart or a pause mid-window, so a check it failed can say so instead of blaming the device's steady state.
They are streamed as they happen: an engine keeps only its last 256 events, which a busy one overwrites within
minutes.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from typing import Any

# the engine's container events that change what the device does, as a message says them
ENGINE_ACTIONS = {"die": "stopped", "start": "started", "pause": "paused", "unpause": "unpaused",
                  "oom": "ran out of memory"}
COMPOSE_PROJECT = "com.docker.compose.project"


class EngineWatch:
    """The engine's container events for the agents' compose project (or the agent and guard containers), streamed
    from `since` in a thread of its own: an engine keeps only its last 256 events, which a busy one overwrites within
    minutes, so they are read as they happen. Reconnects after a dropped stream; `stop` ends it."""

    def __init__(self, client: Any, containers: Sequence[str], since: float) -> None:
        self.client = client
        self.containers = list(containers)
        self.since = since
        self.events: list[dict[str, Any]] = []
        self._seen: set[tuple[Any, ...]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stream: Any = None
        threading.Thread(target=self._loop, name="jetson-hil-engine-events", daemon=True).start()

    def _filters(self) -> dict[str, Any]:
        with contextlib.suppress(Exception):  # no such container yet: watch it by name
            labels = (self.client.api.inspect_container(self.containers[0]).get("Config") or {}).get("Labels")
            if project := (labels or {}).get(COMPOSE_PROJECT):
                return {"type": "container", "label": f"{COMPOSE_PROJECT}={project}"}
        return {"type": "container", "container": self.containers}

    def _loop(self) -> None:
        filters = self._filters()
        since = self.since
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # a dropped or timed-out stream: open it again from the last event
                self._stream = self.client.api.events(since=int(since), filters=filters, decode=True)
                for event in self._stream:
                    key = (event.get("id"), event.get("Action"), event.get("timeNano"))
                    with self._lock:
                        if key not in self._seen:
                            self._seen.add(key)
                            self.events.append(event)
                    since = max(since, float(event.get("time") or since))
            self._stop.wait(1.0)

    def read(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)

    def stop(self) -> None:
        self._stop.set()
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()


def engine_disturbances(events: Sequence[dict[str, Any]], since: float) -> list[str]:
    """One line per container from the engine's events at or after `since` (time.time()): what happened to it and
    when, e.g. 'container x restarted: stopped (exit code 0) at 18:32:39.8, started at 18:32:40.0 UTC'."""
    said: dict[str, list[str]] = {}
    for event in events:
        action = str(event.get("Action") or event.get("status") or "")
        stamp = event.get("timeNano")
        when = stamp / 1e9 if stamp else float(event.get("time") or 0)
        if action not in ENGINE_ACTIONS or when < since:
            continue
        attrs = (event.get("Actor") or {}).get("Attributes") or {}
        name = attrs.get("name") or str(event.get("id", ""))[:12]
        what = ENGINE_ACTIONS[action]
        if action == "die" and attrs.get("exitCode") is not None:
            what += f" (exit code {attrs['exitCode']})"
        said.setdefault(name, []).append(f"{what} at {time.strftime('%H:%M:%S', time.gmtime(when))}"
                                         f".{int(when * 10) % 10}")
    lines = []
    for name, parts in said.items():
        kinds = " ".join(parts)
        verb = "restarted" if "stopped" in kinds and "started" in kinds else "paused" if "paused" in kinds else ""
        lines.append(f"container {name} {verb + ': ' if verb else ''}{', '.join(parts)} UTC")
    return lines
