"""The session's MQTT evidence: every message on the agents' topics, recorded in the background.

The recorder is started once per session, before the first test, and keeps recording while the tests
run; a test asks for a window of what has been seen instead of subscribing and waiting itself, so the
whole run costs about one evidence window.

>>> rec = MqttRecorder("mqtt://127.0.0.1:1883", ["vision/embeddings"])     # doctest: +SKIP
>>> rec.start(timeout=5)                                                    # doctest: +SKIP
>>> rec.wait_window(10)                                                     # doctest: +SKIP
>>> len(rec.window("vision/embeddings", 10))                                # doctest: +SKIP
48

Design points:

- The paho network thread only timestamps and appends raw bytes (no JSON parsing), so a fast publisher
  (768-float JSON at 2000 msg/s) is recorded without loss.
- Memory is bounded: a cap per topic and a byte budget over all topics; what is evicted is counted.
- Connection events (connects, disconnects, with times and reasons) are recorded, so a broker restart
  shows up as a gap, and the client reconnects and re-subscribes by itself.
- Nothing hangs: `start` has a deadline, waits use a Condition with a timeout, `stop` is bounded.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from jetson_hil.payloads import decode
from jetson_hil.profile import MqttUrl, parse_mqtt_url

__all__ = ["ConnectionEvent", "Message", "MqttRecorder", "MqttWindow", "RecorderError", "WaitTimeout"]

DEFAULT_MAX_MESSAGES_PER_TOPIC = 50_000
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
_client_ids = itertools.count(1)


class RecorderError(RuntimeError):
    """The recorder cannot record: broker unreachable, connection refused, subscription refused."""


class WaitTimeout(TimeoutError):
    """A wait ended before enough evidence arrived; the message names topic, what was seen and the timeout."""


class Message(NamedTuple):
    """One recorded MQTT message. `seq` is the recorder's own arrival counter (1, 2, ...), over all topics."""

    topic: str
    payload: bytes
    received: float  # time.time() in the network thread, for comparisons with publisher timestamps
    received_mono: float  # time.monotonic() in the network thread, for windows and rates
    seq: int

    def decode(self) -> tuple[Any, str | None]:
        """The payload as a JSON object, or (None, problem); see `jetson_hil.payloads.decode`."""
        return decode(self.payload)


@dataclass(frozen=True)
class ConnectionEvent:
    """A change of the connection to the broker: kind is 'connect', 'disconnect' or 'refused'."""

    kind: str
    time: float
    mono: float
    reason: str = ""


class _Topic:
    __slots__ = ("bytes", "dropped", "last_seq", "messages", "received")

    def __init__(self, cap: int) -> None:
        self.messages: deque[Message] = deque(maxlen=cap)
        self.bytes = 0
        self.dropped = 0
        self.received = 0
        self.last_seq = 0


def _gap(down: ConnectionEvent, up_mono: float, mono_to_wall: float) -> dict[str, Any]:
    def iso(mono: float) -> str:
        return datetime.fromtimestamp(mono + mono_to_wall, timezone.utc).strftime("%H:%M:%S.%f")[:-3] + " UTC"

    return {"from": iso(down.mono), "to": iso(up_mono), "seconds": up_mono - down.mono, "reason": down.reason}


def _reason_text(reason_code: Any) -> str:
    try:
        return str(reason_code.getName()) if hasattr(reason_code, "getName") else str(reason_code)
    except Exception:  # paho reason codes only; never let a callback die on formatting
        return repr(reason_code)


class MqttRecorder:
    """Records every message on `topics` from the broker at `url` until `stop`.

    `url` is ``mqtt://host[:port]`` / ``mqtts://host[:port]`` or a `MqttUrl`; `credentials` is
    (user, password) or None. `max_messages_per_topic` caps each topic's history and `max_bytes` caps the
    payload bytes held over all topics (the oldest messages of the largest topic go first); evictions are
    counted per topic in `stats()`.
    """

    def __init__(
        self,
        url: str | MqttUrl,
        topics: Iterable[str],
        credentials: tuple[str, str | None] | None = None,
        max_messages_per_topic: int = DEFAULT_MAX_MESSAGES_PER_TOPIC,
        max_bytes: int = DEFAULT_MAX_BYTES,
        qos: int = 0,
        keepalive: int = 15,
        client_id: str | None = None,
        ca_file: str = "",
        cert_file: str = "",
        key_file: str = "",
    ) -> None:
        self.url = url if isinstance(url, MqttUrl) else parse_mqtt_url(url)
        self.topics = tuple(dict.fromkeys(topics))
        if not self.topics:
            raise ValueError("MqttRecorder needs at least one topic")
        if max_messages_per_topic < 1 or max_bytes < 1:
            raise ValueError("max_messages_per_topic and max_bytes must be >= 1")
        self.max_messages_per_topic = max_messages_per_topic
        self.max_bytes = max_bytes
        self.qos = qos
        self.keepalive = keepalive
        self._credentials = credentials
        self._tls_files = {"ca_file": ca_file, "cert_file": cert_file, "key_file": key_file}
        self._client_id = client_id or f"jetson-hil-{os.getpid()}-{next(_client_ids)}-{time.monotonic_ns() % 10**6}"

        self._cond = threading.Condition(threading.Lock())  # not an RLock: on_message is the hot path
        self._topics: dict[str, _Topic] = {t: _Topic(max_messages_per_topic) for t in self.topics}
        self._bytes = 0
        self._seq = 0
        self._events: list[ConnectionEvent] = []
        self._connected = False
        self._subscribed = False
        self._refused: str | None = None
        self._started_mono: float | None = None
        self._started: float | None = None
        self._stopped = threading.Event()
        self._stop_mono: float | None = None
        self._client: mqtt.Client | None = None

    # ---------------------------------------------------------------------------------- lifecycle

    def _where(self) -> str:
        return f"MQTT broker {self.url.host}:{self.url.port}"

    def start(self, timeout: float = 10.0) -> MqttRecorder:
        """Connects and subscribes to every topic (SUBACK received) before returning.

        Raises RecorderError, one line naming host, port and reason, when that does not happen within
        `timeout` seconds (connection refused, unknown host, not authorised, no SUBACK).
        """
        if self._client is not None:
            raise RecorderError(f"{self._where()}: recorder already started")
        for key, path in self._tls_files.items():
            if path and not os.path.isfile(path):
                raise RecorderError(f"{self._where()}: TLS {key} {path} is not a readable file")
        deadline = time.monotonic() + timeout
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
            reconnect_on_failure=True,
        )
        client.suppress_exceptions = True
        client.reconnect_delay_set(min_delay=0.25, max_delay=2)  # type: ignore[arg-type]
        if self._credentials is not None:
            client.username_pw_set(self._credentials[0], self._credentials[1])
        if self.url.tls:  # the system's CAs unless ca_file; a client certificate when the broker asks for one
            f = self._tls_files
            try:
                client.tls_set(ca_certs=f["ca_file"] or None, certfile=f["cert_file"] or None,
                               keyfile=f["key_file"] or None)  # fmt: skip
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError: a file that is not PEM, a key pair
                raise RecorderError(f"{self._where()}: TLS files unusable: {exc}") from None
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client

        reason = "no attempt made"
        delay = 0.1
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._abort()
                raise RecorderError(f"{self._where()} unreachable within {timeout:g} s: {reason}")
            with contextlib.suppress(RuntimeError):  # paho refuses it while a socket is half-open
                client.connect_timeout = max(0.05, min(remaining, 5.0))
            try:
                client.connect(self.url.host, self.url.port, keepalive=self.keepalive)
                break
            except (OSError, ValueError) as exc:
                reason = str(exc) or type(exc).__name__
            if self._stopped.wait(min(delay, max(0.0, deadline - time.monotonic()))):
                self._abort()
                raise RecorderError(f"{self._where()}: recorder stopped while connecting")
            delay = min(delay * 2, 1.0)

        client.loop_start()
        with self._cond:
            self._cond.wait_for(lambda: self._subscribed or self._refused is not None, deadline - time.monotonic())
            refused, subscribed, connected = self._refused, self._subscribed, self._connected
        if subscribed:
            self._started_mono = time.monotonic()
            self._started = time.time()
            return self
        self._abort()
        if refused is not None:
            raise RecorderError(f"{self._where()} refused the connection or subscription: {refused}")
        missing = "SUBACK" if connected else "CONNACK"
        hint = ""
        if missing == "CONNACK" and self.url.tls and not self._tls_files["cert_file"]:  # TLS 1.3: refused after
            hint = "; a TLS broker that requires a client certificate ends the connection so: set [mqtt] cert_file"
        raise RecorderError(
            f"{self._where()} accepted the TCP connection but sent no {missing} within {timeout:g} s{hint}"
        )

    def _abort(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            self._shutdown(client, 2.0)

    @staticmethod
    def _shutdown(client: mqtt.Client, timeout: float) -> None:
        with contextlib.suppress(Exception):  # a half-open client may refuse; the thread ends below anyway
            client.disconnect()
        stopper = threading.Thread(target=client.loop_stop, name="jetson-hil-mqtt-stop", daemon=True)
        stopper.start()
        stopper.join(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Disconnects and ends the network thread (bounded by `timeout`); recorded messages stay queryable."""
        if self._stop_mono is None:
            self._stop_mono = time.monotonic()
        self._stopped.set()
        client = self._client
        if client is None:
            return
        self._shutdown(client, timeout)
        with self._cond:
            self._cond.notify_all()

    def __enter__(self) -> MqttRecorder:
        return self if self._client is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------- network-thread callbacks

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        now, mono = time.time(), time.monotonic()
        if reason_code.is_failure:
            with self._cond:
                self._refused = _reason_text(reason_code)
                self._events.append(ConnectionEvent("refused", now, mono, self._refused))
                self._cond.notify_all()
            return
        with self._cond:
            self._connected = True
            self._events.append(ConnectionEvent("connect", now, mono, _reason_text(reason_code)))
            self._cond.notify_all()
        client.subscribe([(t, self.qos) for t in self.topics])

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: list[Any], properties: Any
    ) -> None:
        with self._cond:
            failed = [(t, rc) for t, rc in zip(self.topics, reason_codes, strict=False) if rc.is_failure]
            if failed:
                self._refused = "subscription refused for " + ", ".join(f"{t} ({_reason_text(rc)})" for t, rc in failed)
            else:
                self._subscribed = True
            self._cond.notify_all()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        now, mono = time.time(), time.monotonic()
        with self._cond:
            if self._connected:
                self._events.append(ConnectionEvent("disconnect", now, mono, _reason_text(reason_code)))
            self._connected = False
            self._subscribed = False  # a reconnect records again only once the broker acknowledged the topics
            self._cond.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        received, received_mono = time.time(), time.monotonic()
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = msg._topic.decode("utf-8", "replace")
        payload = msg.payload
        with self._cond:
            self._seq += 1
            message = Message(topic, payload, received, received_mono, self._seq)
            state = self._topics.get(topic)
            if state is None:
                state = self._topics[topic] = _Topic(self.max_messages_per_topic)
            if len(state.messages) == state.messages.maxlen:
                old = state.messages[0]
                state.bytes -= len(old.payload)
                self._bytes -= len(old.payload)
                state.dropped += 1
            state.messages.append(message)
            state.bytes += len(payload)
            state.received += 1
            state.last_seq = message.seq
            self._bytes += len(payload)
            if self._bytes > self.max_bytes:
                self._evict()
            self._cond.notify_all()

    def _evict(self) -> None:
        """Drops the oldest messages of the largest topics until the byte budget holds (lock held)."""
        while self._bytes > self.max_bytes:
            largest = max(self._topics.values(), key=lambda s: s.bytes)
            if not largest.messages:
                return
            old = largest.messages.popleft()
            largest.bytes -= len(old.payload)
            self._bytes -= len(old.payload)
            largest.dropped += 1

    # ---------------------------------------------------------------------------------- queries

    @property
    def connected(self) -> bool:
        with self._cond:
            return self._connected

    @property
    def started_mono(self) -> float | None:
        """time.monotonic() when the recorder started recording (None before `start`)."""
        return self._started_mono

    def mark(self) -> float:
        """Now, on the clock `since` arguments use (time.monotonic())."""
        return time.monotonic()

    def messages(self, topic: str, since: float | None = None, last_s: float | None = None) -> list[Message]:
        """Recorded messages of `topic`, oldest first.

        `since` is a time.monotonic() value (see `mark`): only messages received at or after it.
        `last_s`: only messages of the last `last_s` seconds.
        """
        cutoff = -float("inf")
        if since is not None:
            cutoff = since
        if last_s is not None:
            cutoff = max(cutoff, time.monotonic() - last_s)
        with self._cond:
            state = self._topics.get(topic)
            if state is None:
                return []
            if cutoff == -float("inf"):
                return list(state.messages)
            out = []
            for m in reversed(state.messages):
                if m.received_mono < cutoff:
                    break
                out.append(m)
        out.reverse()
        return out

    def window(self, topic: str, seconds: float) -> list[Message]:
        """The messages of `topic` received in the last `seconds` seconds."""
        return self.messages(topic, last_s=seconds)

    def wait_for(
        self,
        topic: str,
        predicate: Callable[[Message], bool] | None = None,
        count: int = 1,
        timeout: float = 10.0,
        since: float | None = None,
    ) -> list[Message]:
        """Waits until `count` messages on `topic` (matching `predicate`) have been recorded.

        Messages already recorded count (restrict with `since`, a time.monotonic() value). Returns the
        first `count` matches; raises WaitTimeout naming topic, matches seen and timeout. The predicate
        runs outside the recorder's lock, once per message.
        """
        deadline = time.monotonic() + timeout
        matched: list[Message] = []
        seen = 0
        last = 0

        def arrived() -> bool:
            state = self._topics.get(topic)
            return (state is not None and state.last_seq > last) or self._stopped.is_set()

        while True:
            new: list[Message] = []
            with self._cond:
                if not arrived():
                    remaining = deadline - time.monotonic()
                    if remaining > 0:
                        self._cond.wait_for(arrived, remaining)
                state = self._topics.get(topic)
                if state is not None:
                    for m in reversed(state.messages):
                        if m.seq <= last:
                            break
                        new.append(m)
                    last = max(last, state.last_seq)
            if not new and (self._stopped.is_set() or time.monotonic() >= deadline):
                raise WaitTimeout(self._timeout_message(topic, predicate, count, len(matched), seen, timeout))
            new.reverse()
            for m in new:
                if since is not None and m.received_mono < since:
                    continue
                seen += 1
                if predicate is None or predicate(m):
                    matched.append(m)
                    if len(matched) >= count:
                        return matched

    def _timeout_message(self, topic: str, predicate: Any, count: int, matched: int, seen: int, timeout: float) -> str:
        what = f"{count} message{'s' if count != 1 else ''} on {topic}"
        if predicate is not None:
            name = getattr(predicate, "__name__", repr(predicate))
            what += f" matching {name}"
            saw = f"saw {matched} matching of {seen}"
        else:
            saw = f"saw {seen}"
        state = "" if self.connected else f"; not connected to {self._where()}"
        if self._stopped.is_set():
            state = "; the recorder was stopped"
        return f"timed out after {timeout:g} s waiting for {what}: {saw}{state}"

    def wait_window(self, seconds: float, since: float | None = None) -> float:
        """Makes sure at least `seconds` of evidence have been recorded since `start` (and since `since`, a
        time.monotonic() the window must not begin before); waits only the remainder.

        Returns the seconds recorded so far. Raises RecorderError when the recorder is not running.
        """
        if self._started_mono is None:
            raise RecorderError(f"{self._where()}: recorder not started")
        remaining = max(self._started_mono, self._started_mono if since is None else since) + seconds - time.monotonic()
        if remaining > 0 and self._stopped.wait(remaining):
            raise RecorderError(f"{self._where()}: recorder stopped before {seconds:g} s were recorded")
        return time.monotonic() - self._started_mono

    def wait_connected(self, timeout: float) -> bool:
        """True once connected and subscribed again, i.e. recording (waiting up to `timeout`), else False."""
        with self._cond:
            recording = self._cond.wait_for(
                lambda: (self._connected and self._subscribed) or self._stopped.is_set(), timeout
            )
            return recording and self._connected and self._subscribed

    def events(self) -> list[ConnectionEvent]:
        """Connection events, in order."""
        with self._cond:
            return list(self._events)

    def gaps(self) -> list[tuple[float, float | None]]:
        """Disconnected intervals as (disconnect mono, reconnect mono or None while still down)."""
        out: list[tuple[float, float | None]] = []
        down: float | None = None
        for event in self.events():
            if event.kind == "disconnect" and down is None:
                down = event.mono
            elif event.kind == "connect" and down is not None:
                out.append((down, event.mono))
                down = None
        if down is not None:
            out.append((down, None))
        return out

    def gap_report(self) -> list[dict[str, Any]]:
        """Every interval the recorder had no connection between its first connect and `stop` (our own
        disconnect is not a gap): ``from``/``to`` (UTC ISO, ``to`` None while still down at stop), ``seconds``
        and the broker's or paho's reason. The evidence that a short window was a broker restart."""
        stop = self._stop_mono
        mono_to_wall = time.time() - time.monotonic()
        out: list[dict[str, Any]] = []
        down: ConnectionEvent | None = None
        for event in self.events():
            if stop is not None and event.mono >= stop:
                break
            if event.kind == "disconnect" and down is None:
                down = event
            elif event.kind == "connect" and down is not None:
                out.append(_gap(down, event.mono, mono_to_wall))
                down = None
        if down is not None:
            end = stop if stop is not None else time.monotonic()
            out.append({**_gap(down, end, mono_to_wall), "to": None})
        return out

    def stats(self) -> dict[str, Any]:
        """Counts for the report: per topic received/retained/dropped/bytes, totals and connection history."""
        with self._cond:
            topics = {
                t: {"received": s.received, "retained": len(s.messages), "dropped": s.dropped, "bytes": s.bytes}
                for t, s in self._topics.items()
            }
            events = list(self._events)
            total_bytes, connected = self._bytes, self._connected
        started = self._started_mono
        return {
            "broker": str(self.url),
            "topics": topics,
            "received": sum(t["received"] for t in topics.values()),
            "dropped": sum(t["dropped"] for t in topics.values()),
            "bytes": total_bytes,
            "max_bytes": self.max_bytes,
            "max_messages_per_topic": self.max_messages_per_topic,
            "connected": connected,
            "connects": sum(1 for e in events if e.kind == "connect"),
            "disconnects": sum(1 for e in events if e.kind == "disconnect"),
            "gaps": [(a, b) for a, b in self.gaps()],
            "started": self._started,
            "recorded_s": None if started is None else time.monotonic() - started,
        }


def json_objects(messages: Iterable[Message]) -> list[tuple[Message, Any]]:
    """(message, object) for every message whose payload decodes (`Message.decode`); the rest are left out."""
    out = []
    for m in messages:
        obj, _ = m.decode()
        if obj is not None:
            out.append((m, obj))
    return out


@dataclass
class MqttWindow:
    """One evidence window of MQTT messages, taken once the recorder has recorded `seconds` of them."""

    seconds: float
    start: float  # time.monotonic()
    end: float
    messages: dict[str, list[Message]] = field(default_factory=dict)

    def on(self, topic: str) -> list[Message]:
        return self.messages.get(topic, [])
