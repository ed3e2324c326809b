"""What every simulated agent shares: logging, the MQTT connection, the live-fault file, a drift-free clock.

The agents run as ``python3 /app/agents/<name>.py`` in their containers and import this file as a
sibling. Only the standard library, numpy-free, and paho-mqtt 2.x.

Environment: ``MQTT_HOST`` (127.0.0.1), ``MQTT_PORT`` (1883), ``MQTT_USERNAME`` / ``MQTT_PASSWORD``
(optional), ``JETSON_SIM_FAULTS_FILE`` (``/run/jetson-sim/faults``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

FAULTS_FILE = "/run/jetson-sim/faults"

TOPIC_EMBEDDINGS = "vision/embeddings"
TOPIC_GUARD = "vision/guard"
TOPIC_UNDERSTANDING = "progress/understanding"
TOPIC_ACT = "act/result"


def log(agent: str, message: str) -> None:
    """One line on stdout (the container log): ``2026-02-01T10:00:00.123Z vl_jepa: message``."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    sys.stdout.write(f"{stamp} {agent}: {message}\n")
    sys.stdout.flush()


def env_number(name: str, default: float, agent: str, low: float | None = None) -> float:
    """A numeric setting; a bad value ends the agent with a log line naming it (as a real agent crashes)."""
    raw = os.environ.get(name, "")
    if raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if math.isnan(value) or (low is not None and value < low):
        log(agent, f"invalid {name}={raw!r}: expected a number{'' if low is None else f' >= {low:g}'}")
        raise SystemExit(2)
    return value


def env_int(name: str, default: int, agent: str, low: int | None = None) -> int:
    raw = os.environ.get(name, "")
    if raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        log(agent, f"invalid {name}={raw!r}: expected an integer")
        raise SystemExit(2) from None
    if low is not None and value < low:
        log(agent, f"invalid {name}={raw!r}: expected an integer >= {low}")
        raise SystemExit(2)
    return value


def exit_on_sigterm() -> None:
    """``docker stop`` sends SIGTERM: leave through SystemExit so ``finally`` and atexit run."""

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, handler)


def dumps(payload: dict[str, Any]) -> bytes:
    """Compact JSON; NaN stays ``NaN`` as Python's json writes it (what a careless agent sends)."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=True).encode()


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    received: float  # time.time() at arrival


class Bus:
    """One paho-mqtt 2.x client that reconnects forever and hands messages to the main thread.

    >>> bus = Bus("scene", subscribe=["vision/embeddings"])  # doctest: +SKIP
    >>> bus.start(); msg = bus.get(timeout=1.0)                # doctest: +SKIP
    """

    def __init__(self, agent: str, subscribe: list[str] | tuple[str, ...] = ()):
        self.agent = agent
        self.host = os.environ.get("MQTT_HOST") or "127.0.0.1"
        self.port = int(os.environ.get("MQTT_PORT") or 1883)
        self.topics = list(subscribe)
        self.inbox: queue.Queue[Message] = queue.Queue(maxsize=1000)
        self.dropped = 0
        self._state = ""
        self._stopping = False
        self._connected = threading.Event()
        client_id = f"{agent}-{socket.gethostname()}-{os.getpid()}"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        user = os.environ.get("MQTT_USERNAME")
        if user:
            self.client.username_pw_set(user, os.environ.get("MQTT_PASSWORD") or None)
        # back within 2 s of the broker's return: with paho's doubling up to 30 s, an agent could still be away
        # half a minute after a restarted broker, and the next run's window found no understanding
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_message = self._on_message

    def _state_change(self, state: str, line: str) -> None:
        if state != self._state:
            self._state = state
            log(self.agent, line)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._connected.clear()
            self._state_change(f"refused {reason}", f"MQTT {self.host}:{self.port} refused the connection: {reason}")
            return
        for topic in self.topics:
            client.subscribe(topic, qos=0)
        self._connected.set()
        subs = f", subscribed to {', '.join(self.topics)}" if self.topics else ""
        self._state_change("connected", f"MQTT connected to {self.host}:{self.port}{subs}")

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._connected.clear()
        if self._stopping:
            self._state_change("stopped", f"MQTT disconnected from {self.host}:{self.port}")
            return
        self._state_change("disconnected", f"MQTT disconnected from {self.host}:{self.port} ({reason}); reconnecting")

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self._connected.clear()
        self._state_change("unreachable", f"MQTT broker {self.host}:{self.port} unreachable; retrying with backoff")

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            self.inbox.put_nowait(Message(message.topic, bytes(message.payload), time.time()))
        except queue.Full:
            self.dropped += 1

    def start(self) -> Bus:
        self._state_change("connecting", f"MQTT connecting to {self.host}:{self.port}")
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        return self

    def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(Exception):
            self.client.disconnect()
        with contextlib.suppress(Exception):
            self.client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def publish(self, topic: str, payload: bytes) -> bool:
        """Fire and forget (QoS 0); False when not connected (the message is dropped, as paho does)."""
        if not self.connected:
            return False
        info = self.client.publish(topic, payload, qos=0)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def get(self, timeout: float) -> Message | None:
        try:
            return self.inbox.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None


class Faults:
    """The simulator's live faults: one name a line in ``$JETSON_SIM_FAULTS_FILE``, re-read when it changes.

    ``active`` stats the file at most once a second and re-reads it only when its mtime or size changed.
    A missing file means no faults.
    """

    def __init__(self, path: str | None = None, interval: float = 1.0):
        self.path = path or os.environ.get("JETSON_SIM_FAULTS_FILE") or FAULTS_FILE
        self.interval = interval
        self._names: frozenset[str] = frozenset()
        self._stamp: tuple[float, int] | None = None
        self._checked = -math.inf

    def active(self) -> frozenset[str]:
        now = time.monotonic()
        if now - self._checked < self.interval:
            return self._names
        self._checked = now
        try:
            st = os.stat(self.path)
        except OSError:
            self._stamp, self._names = None, frozenset()
            return self._names
        stamp = (st.st_mtime, st.st_size)
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                with open(self.path, encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
            except OSError:
                text = ""
            self._names = frozenset(
                line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
            )
        return self._names

    def __contains__(self, name: str) -> bool:
        return name in self.active()


class Ticker:
    """Drift-free schedule: tick n is due at ``start + n * period``; a late tick is skipped, not bunched."""

    def __init__(self, rate_hz: float):
        self.period = 1.0 / rate_hz
        self.next = time.monotonic()

    def wait(self, period: float | None = None) -> None:
        """Sleep until the next tick; ``period`` overrides this tick's spacing (e.g. a slowed publisher)."""
        step = self.period if period is None else period
        now = time.monotonic()
        if self.next - now > 0:
            time.sleep(self.next - now)
        else:
            missed = math.floor((now - self.next) / step)
            self.next += missed * step
        self.next += step


def write_json_atomic(path: str, data: dict[str, Any]) -> None:
    """Write, fsync and rename, so a reader never sees half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class JsonFile:
    """A JSON file re-read when its mtime changes (checked at most once a second); ``data`` None if absent."""

    def __init__(self, path: str, interval: float = 1.0):
        self.path = path
        self.interval = interval
        self.data: dict[str, Any] | None = None
        self.error: str | None = None
        self._stamp: tuple[float, int] | None = None
        self._checked = -math.inf

    def refresh(self, force: bool = False) -> bool:
        """True when the content changed since the last call."""
        now = time.monotonic()
        if not force and now - self._checked < self.interval:
            return False
        self._checked = now
        try:
            st = os.stat(self.path)
        except OSError:
            changed = self.data is not None or self.error is None
            self.data, self._stamp = None, None
            self.error = f"{self.path} not found"
            return changed
        stamp = (st.st_mtime, st.st_size)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            with open(self.path, encoding="utf-8") as fh:
                data = json.load(fh)
            if not isinstance(data, dict):
                raise ValueError("top level is not an object")
            self.data, self.error = data, None
        except (OSError, ValueError) as exc:
            self.data, self.error = None, f"{self.path} unreadable: {exc}"
        return True
