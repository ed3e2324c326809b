"""What each agent fault does to the simulated agents, in one place: an agent asks, and names no fault.

The names are the catalogue's agent faults (jetson_hil/sim/faults.py, kind "agent"), which the simulator
writes to the live-fault file the agents re-read while they run (`mqttio.Faults`): setting or clearing one
restarts nothing. Each agent holds one `LiveFaults` and asks it at each step.
"""

from __future__ import annotations

import math

import mqttio

SLOW_FACTOR = 4  # slow_rate: a quarter of the configured rate
NAN_EVERY = 5  # nan_embeddings: every 5th value of each embedding is NaN
EXPLODE_BY = 4096.0  # exploding_embeddings: activations blown up as an fp16 overflow would
GAP_EVERY, GAP = 10, 5  # seq_gaps: every 10th frame, 5 seq numbers lost between the camera and the encoder
MALFORM_EVERY = 3  # malformed_payload: every 3rd payload cut in half
ACK_TIMEOUT_MS = 200  # actuation_failures: the actuator's acknowledgement deadline, named in the error


class LiveFaults:
    def __init__(self, faults: mqttio.Faults | None = None):
        self.faults = faults if faults is not None else mqttio.Faults()
        self._constant: list[float] | None = None
        self._flaps = 0

    # ------------------------------------------------------------------ vl_jepa

    def publisher_stalled(self) -> bool:
        """stalled_publisher: the process runs and stays connected, but publishes nothing."""
        return "stalled_publisher" in self.faults

    def period(self, period: float) -> float:
        """slow_rate: the publisher ticks at a quarter of its rate."""
        return period * SLOW_FACTOR if "slow_rate" in self.faults else period

    def embedding(self, values: list[float], seq: int) -> list[float]:
        """constant_embeddings (the first embedding again and again), nan_embeddings, exploding_embeddings."""
        active = self.faults.active()
        if "constant_embeddings" in active:
            if self._constant is None or len(self._constant) != len(values):
                self._constant = values
            values = list(self._constant)
        else:
            self._constant = None
        if "nan_embeddings" in active:
            values = list(values)
            for i in range(seq % NAN_EVERY, len(values), NAN_EVERY):
                values[i] = math.nan
        if "exploding_embeddings" in active:
            values = [v * EXPLODE_BY for v in values]
        return values

    def next_seq(self, seq: int) -> int:
        """The seq number after `seq`; seq_gaps loses some every few frames."""
        seq += 1
        if "seq_gaps" in self.faults and seq % GAP_EVERY == 0:
            seq += GAP
        return seq

    def payload(self, data: bytes, seq: int) -> bytes:
        """malformed_payload: every few payloads are cut in half (invalid JSON)."""
        if "malformed_payload" in self.faults and seq % MALFORM_EVERY == 0:
            return data[: len(data) // 2]
        return data

    # ------------------------------------------------------------------ embedding_guard

    def guard_publishes(self) -> bool:
        """guard_silent: the guard keeps reading and classifying, and publishes nothing."""
        return "guard_silent" not in self.faults

    # ------------------------------------------------------------------ scene

    def scene_takes_embeddings(self, has_one: bool) -> bool:
        """scene_stale_embeddings: after its first embedding the scene takes in no more."""
        return not (has_one and "scene_stale_embeddings" in self.faults)

    def scene_publishes(self) -> bool:
        """scene_silent: the scene keeps reading, and publishes nothing."""
        return "scene_silent" not in self.faults

    def flapped_location(self, names: list[str]) -> str | None:
        """flapping_locations: the next of `names` on every message, as an unsmoothed classifier would say (its
        own counter: the votes would otherwise pull the location back between two messages); else None."""
        if "flapping_locations" not in self.faults or not names:
            return None
        self._flaps += 1
        return names[self._flaps % len(names)]

    # ------------------------------------------------------------------ policy

    def actuates(self) -> bool:
        """no_actuation: the policy reads understandings and publishes no result."""
        return "no_actuation" not in self.faults

    def actuation_error(self, action: str) -> str | None:
        """actuation_failures: every result says the actuator did not acknowledge."""
        if "actuation_failures" in self.faults:
            return f"actuator timeout: {action} not acknowledged within {ACK_TIMEOUT_MS} ms"
        return None
