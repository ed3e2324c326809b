"""The simulated ``policy`` agent: acts on each understanding and reports the result.

Run: ``python3 /app/agents/policy.py``. Subscribes to ``progress/understanding``; for each message it
"actuates" (5-25 ms) and publishes ``act/result``: ``action`` is ``move_to:<location>`` (``wait`` when no
location is known), ``latency_ms`` the time from the understanding's ``ts`` to this result, both on the
device clock. Live faults (``live_faults``): ``no_actuation`` (publishes nothing), ``actuation_failures``
(``ok: false`` with an ``error``).
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import json  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import mqttio  # noqa: E402
from live_faults import LiveFaults  # noqa: E402

AGENT = "policy"


def say(message: str) -> None:
    mqttio.log(AGENT, message)


class Policy:
    def __init__(self, faults: LiveFaults):
        self.faults = faults
        self.seq = 0
        self._bad = 0

    def handle(self, payload: bytes) -> dict[str, Any] | None:
        try:
            data = json.loads(payload)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as exc:
            self._bad += 1
            if self._bad == 1 or self._bad % 100 == 0:
                say(f"invalid JSON on {mqttio.TOPIC_UNDERSTANDING} ({self._bad} so far): {exc}")
            return None
        if not self.faults.actuates():
            return None
        locations = data.get("locations") if isinstance(data.get("locations"), dict) else {}
        current = locations.get("current")
        action = f"move_to:{current}" if isinstance(current, str) and current else "wait"
        source_seq = data.get("seq") if isinstance(data.get("seq"), int) else None
        time.sleep((5 + (hash((source_seq, action)) % 21)) / 1000.0)
        self.seq += 1
        now = time.time()
        ts = data.get("ts")
        latency = (now - ts) * 1000.0 if isinstance(ts, (int, float)) and not isinstance(ts, bool) else None
        result: dict[str, Any] = {
            "seq": self.seq,
            "ts": round(now, 6),
            "action": action,
            "ok": True,
            "latency_ms": round(latency, 3) if latency is not None else None,
            "understanding_seq": source_seq,
        }
        error = self.faults.actuation_error(action)
        if error:
            result["ok"] = False
            result["error"] = error
        return result


def main() -> int:
    mqttio.exit_on_sigterm()
    policy = Policy(LiveFaults())
    say("starting")
    bus = mqttio.Bus(AGENT, subscribe=[mqttio.TOPIC_UNDERSTANDING]).start()
    failing = False
    try:
        while True:
            message = bus.get(timeout=1.0)
            if message is None:
                continue
            result = policy.handle(message.payload)
            if result is None:
                continue
            if result["ok"] != (not failing):
                failing = not result["ok"]
                say(result["error"] if failing else "actuation ok again")
            bus.publish(mqttio.TOPIC_ACT, mqttio.dumps(result))
    finally:
        bus.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
