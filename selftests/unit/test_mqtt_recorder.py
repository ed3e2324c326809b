"""MQTT recorder against a real mosquitto: recording, windows, waits, failures, restarts, bounded memory."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from jetson_hil.mqtt_recorder import Message, MqttRecorder, RecorderError, WaitTimeout
from jetson_hil.profile import MqttUrl

MOSQUITTO = "/usr/sbin/mosquitto"
TOPICS = ["vision/embeddings", "vision/guard", "progress/understanding", "act/result"]

pytestmark = pytest.mark.skipif(not os.path.exists(MOSQUITTO), reason=f"{MOSQUITTO} is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Broker:
    """A private mosquitto on a free local port, restartable on the same port."""

    def __init__(self, directory: Path, extra: str = "") -> None:
        self.port = free_port()
        self.conf = directory / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n{extra}"
        )
        self.log = directory / "mosquitto.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class Publisher:
    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"pub-{port}")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def publisher(broker: Broker) -> Iterator[Publisher]:
    p = Publisher(broker.port)
    yield p
    p.close()


@pytest.fixture
def recorder(broker: Broker) -> Iterator[MqttRecorder]:
    rec = MqttRecorder(broker.url, TOPICS)
    rec.start(timeout=5)
    yield rec
    rec.stop()


def test_records_every_topic_in_order(recorder: MqttRecorder, publisher: Publisher) -> None:
    before = time.time()
    for i in range(20):
        publisher.publish(TOPICS[i % 4], f'{{"seq": {i}}}')
    recorder.wait_for(TOPICS[3], count=5, timeout=5)
    got = [m for t in TOPICS for m in recorder.messages(t)]
    assert len(got) == 20
    assert sorted(m.payload for m in got) == sorted(f'{{"seq": {i}}}'.encode() for i in range(20))
    ordered = sorted(got, key=lambda m: m.seq)
    assert [m.seq for m in ordered] == list(range(ordered[0].seq, ordered[0].seq + 20))
    assert [m.received_mono for m in ordered] == sorted(m.received_mono for m in ordered)
    assert [m.payload for m in ordered] == [f'{{"seq": {i}}}'.encode() for i in range(20)]
    assert all(before - 1 <= m.received <= time.time() + 1 for m in got)
    first = recorder.messages(TOPICS[0])[0]
    assert isinstance(first, Message) and first.topic == TOPICS[0] and isinstance(first.payload, bytes)
    assert first.decode() == ({"seq": 0}, None)
    stats = recorder.stats()
    assert stats["received"] == 20 and stats["dropped"] == 0 and stats["connects"] == 1
    size = sum(len(f'{{"seq": {i}}}') for i in range(0, 20, 4))
    assert stats["topics"][TOPICS[0]] == {"received": 5, "retained": 5, "dropped": 0, "bytes": size}


def test_url_object_and_unknown_topic(broker: Broker, publisher: Publisher) -> None:
    with MqttRecorder(MqttUrl("127.0.0.1", broker.port, False), ["a/b"]) as rec:
        assert rec.connected
        assert rec.messages("never/seen") == []
        assert rec.window("never/seen", 5) == []


def test_windows_and_since(recorder: MqttRecorder, publisher: Publisher) -> None:
    topic = TOPICS[0]
    publisher.publish(topic, b"old")
    (old,) = recorder.wait_for(topic, timeout=5)
    time.sleep(1.0)  # the stimulus: "old" is a second older than "new"
    mark = recorder.mark()
    publisher.publish(topic, b"new")
    _, new = recorder.wait_for(topic, count=2, timeout=5)
    assert [m.payload for m in recorder.messages(topic)] == [b"old", b"new"]
    # A window that ends halfway between the two arrivals, however long the publish took on a busy machine.
    last_s = time.monotonic() - (old.received_mono + new.received_mono) / 2
    assert [m.payload for m in recorder.window(topic, last_s)] == [b"new"]
    assert [m.payload for m in recorder.messages(topic, last_s=last_s)] == [b"new"]
    assert [m.payload for m in recorder.messages(topic, since=mark)] == [b"new"]
    assert [m.payload for m in recorder.messages(topic, since=mark, last_s=10)] == [b"new"]
    assert recorder.messages(topic, since=time.monotonic() + 1) == []


def test_wait_for_predicate_count_and_existing(recorder: MqttRecorder, publisher: Publisher) -> None:
    topic = TOPICS[1]
    for i in range(6):
        publisher.publish(topic, str(i))
    recorder.wait_for(topic, count=6, timeout=5)
    evens = recorder.wait_for(topic, lambda m: int(m.payload) % 2 == 0, count=3, timeout=5)
    assert [m.payload for m in evens] == [b"0", b"2", b"4"]
    again = recorder.wait_for(topic, count=2, timeout=0.1)
    assert [m.payload for m in again] == [b"0", b"1"]
    mark = recorder.mark()
    timer = threading.Timer(0.2, publisher.publish, args=(topic, b"late"))
    timer.start()
    start = time.monotonic()
    late = recorder.wait_for(topic, since=mark, timeout=60)
    timer.join(5)
    assert [m.payload for m in late] == [b"late"]
    assert time.monotonic() - start < 30, "returns when the message arrives, not at its 60 s timeout"


def test_wait_for_timeout_names_topic_count_and_timeout(recorder: MqttRecorder, publisher: Publisher) -> None:
    topic = TOPICS[2]
    publisher.publish(topic, b"x")
    recorder.wait_for(topic, timeout=5)
    start = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        recorder.wait_for(topic, count=3, timeout=0.3)
    assert 0.29 <= time.monotonic() - start < 10  # waits its whole timeout; the upper bound is a hang guard
    assert str(info.value) == f"timed out after 0.3 s waiting for 3 messages on {topic}: saw 1"

    def is_ok(m: Message) -> bool:
        return m.payload == b"ok"

    with pytest.raises(WaitTimeout, match=rf"1 message on {topic} matching is_ok: saw 0 matching of 1"):
        recorder.wait_for(topic, is_ok, timeout=0.2)
    with pytest.raises(WaitTimeout, match=r"waiting for 1 message on nothing/here: saw 0$"):
        recorder.wait_for("nothing/here", timeout=0.2)


def test_wait_window_waits_only_the_remainder(broker: Broker) -> None:
    rec = MqttRecorder(broker.url, TOPICS).start(timeout=5)
    try:
        start = time.monotonic()
        recorded = rec.wait_window(0.5)
        assert recorded >= 0.5 and time.monotonic() - start < 10  # the upper bound is a hang guard
    finally:
        rec.stop()
    # Stopped, a wait that had anything left to wait for would raise: returning shows it waited for nothing.
    assert rec.wait_window(0.5) >= 0.5
    with pytest.raises(RecorderError, match="not started"):
        MqttRecorder(broker.url, TOPICS).wait_window(1)


def test_wait_window_begins_no_earlier_than_since(broker: Broker) -> None:
    """A window that must not begin before `since` (telemetry's first sample) ends `seconds` after it."""
    rec = MqttRecorder(broker.url, TOPICS).start(timeout=5)
    try:
        since = time.monotonic() + 0.4
        rec.wait_window(0.3, since=since)
        assert time.monotonic() >= since + 0.3
    finally:
        rec.stop()


def test_unreachable_broker_fails_within_the_timeout() -> None:
    port = free_port()
    rec = MqttRecorder(f"mqtt://127.0.0.1:{port}", TOPICS)
    start = time.monotonic()
    with pytest.raises(RecorderError) as info:
        rec.start(timeout=1.0)
    # It tries until its deadline; the upper bound is a hang guard (the message names the 1 s honoured).
    assert 0.99 <= time.monotonic() - start < 8
    message = str(info.value)
    assert message.startswith(f"MQTT broker 127.0.0.1:{port} unreachable within 1 s: ")
    assert "refused" in message.lower()
    assert "\n" not in message


def test_blackholed_broker_fails_within_the_timeout() -> None:
    rec = MqttRecorder("mqtt://10.255.255.1:1883", TOPICS)
    start = time.monotonic()
    # Some networks (sandboxes, proxies) accept any TCP connection: then it is the CONNACK that never comes.
    pattern = r"^MQTT broker 10\.255\.255\.1:1883 (unreachable within 1 s: |.*sent no CONNACK within 1 s)"
    with pytest.raises(RecorderError, match=pattern):
        rec.start(timeout=1.0)
    assert 0.99 <= time.monotonic() - start < 8  # gives up at its deadline; the upper bound is a hang guard


def test_silent_listener_is_not_a_hang() -> None:
    """A TCP listener that never answers CONNECT: start gives up at the deadline."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(RecorderError, match="accepted the TCP connection but sent no CONNACK within 1 s"):
            MqttRecorder(f"mqtt://127.0.0.1:{port}", TOPICS).start(timeout=1.0)
        assert 0.99 <= time.monotonic() - start < 8  # at its deadline; the upper bound is a hang guard


@pytest.mark.skipif(not shutil.which("mosquitto_passwd"), reason="mosquitto_passwd is not installed")
def test_refused_credentials(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "hil", "right"], check=True, capture_output=True)
    b = Broker(tmp_path, extra=f"password_file {passwd}\n")
    b.conf.write_text(b.conf.read_text().replace("allow_anonymous true", "allow_anonymous false"))
    b.start()
    try:
        with pytest.raises(RecorderError, match=r"refused the connection or subscription: Not authorized"):
            MqttRecorder(b.url, TOPICS, credentials=("hil", "wrong")).start(timeout=3)
        with MqttRecorder(b.url, TOPICS, credentials=("hil", "right")) as rec:
            assert rec.connected
    finally:
        b.stop()


def test_broker_restart_is_a_gap_and_recording_resumes(broker: Broker, recorder: MqttRecorder) -> None:
    topic = TOPICS[0]
    p = Publisher(broker.port)
    p.publish(topic, b"before")
    p.close()
    recorder.wait_for(topic, timeout=5)
    broker.stop()
    deadline = time.monotonic() + 30
    while recorder.connected and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not recorder.connected
    broker.start()
    assert recorder.wait_connected(timeout=30), recorder.events()
    p = Publisher(broker.port)
    try:
        p.publish(topic, b"after")
        recorder.wait_for(topic, lambda m: m.payload == b"after", timeout=5)
    finally:
        p.close()
    assert [e.kind for e in recorder.events()] == ["connect", "disconnect", "connect"]
    (gap,) = recorder.gaps()
    assert gap[1] is not None and gap[1] > gap[0]
    stats = recorder.stats()
    assert stats["connects"] == 2 and stats["disconnects"] == 1 and stats["connected"]
    assert [m.payload for m in recorder.messages(topic)] == [b"before", b"after"]


def test_per_topic_cap_counts_drops(broker: Broker, publisher: Publisher) -> None:
    with MqttRecorder(broker.url, TOPICS, max_messages_per_topic=5) as rec:
        for i in range(20):
            publisher.publish(TOPICS[0], str(i))
        publisher.publish(TOPICS[1], b"other")
        rec.wait_for(TOPICS[1], timeout=5)
        assert [m.payload for m in rec.messages(TOPICS[0])] == [str(i).encode() for i in range(15, 20)]
        stats = rec.stats()
        assert stats["topics"][TOPICS[0]] == {"received": 20, "retained": 5, "dropped": 15, "bytes": 10}
        assert stats["dropped"] == 15 and stats["bytes"] == 15


def test_byte_budget_evicts_the_largest_topic_first(broker: Broker, publisher: Publisher) -> None:
    with MqttRecorder(broker.url, TOPICS, max_bytes=1000) as rec:
        publisher.publish(TOPICS[1], b"k" * 50)
        for _ in range(10):
            publisher.publish(TOPICS[0], b"x" * 300)
        rec.wait_for(TOPICS[0], count=3, timeout=5)
        publisher.publish(TOPICS[2], b"end")
        rec.wait_for(TOPICS[2], timeout=5)
        stats = rec.stats()
        assert stats["bytes"] <= 1000
        assert stats["topics"][TOPICS[0]]["dropped"] == 7 and stats["topics"][TOPICS[0]]["retained"] == 3
        assert stats["topics"][TOPICS[1]] == {"received": 1, "retained": 1, "dropped": 0, "bytes": 50}


def test_malformed_payloads_are_recorded_as_bytes(recorder: MqttRecorder, publisher: Publisher) -> None:
    topic = TOPICS[0]
    raw = [b"\xff\xfe\x00garbage", b"{not json", b"", b"[1, 2]", b'{"embedding": [NaN]}', b"9" * 1_000_000]
    for payload in raw:
        publisher.publish(topic, payload)
    got = recorder.wait_for(topic, count=len(raw), timeout=5)
    assert [m.payload for m in got] == raw
    problems = [m.decode()[1] for m in got]
    assert problems[0].startswith("payload is not UTF-8")
    assert problems[1].startswith("payload is invalid JSON")
    assert problems[2].startswith("payload is empty")
    assert problems[3].startswith("payload is a JSON array")
    assert problems[4] is None
    assert problems[5] is not None
    assert recorder.connected


def test_stop_is_bounded_and_keeps_the_evidence(broker: Broker, publisher: Publisher) -> None:
    rec = MqttRecorder(broker.url, TOPICS).start(timeout=5)
    publisher.publish(TOPICS[0], b"kept")
    rec.wait_for(TOPICS[0], timeout=5)
    start = time.monotonic()
    rec.stop(timeout=5)
    assert time.monotonic() - start < 20  # stop's own bound is 5 s; the rest is a hang guard's slack
    rec.stop()
    assert [m.payload for m in rec.messages(TOPICS[0])] == [b"kept"]
    start = time.monotonic()
    with pytest.raises(WaitTimeout, match="the recorder was stopped"):
        rec.wait_for(TOPICS[0], count=2, timeout=60)
    assert time.monotonic() - start < 30, "a stopped recorder answers at once, not at the 60 s timeout"
    with pytest.raises(RecorderError, match="recorder stopped"):
        rec.wait_window(60)


def test_queries_while_recording_are_safe(recorder: MqttRecorder, publisher: Publisher) -> None:
    topic = TOPICS[0]
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                seqs = [m.seq for m in recorder.window(topic, 5)]
                assert seqs == sorted(seqs)
                recorder.stats()
        except BaseException as exc:  # surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(300):
        publisher.client.publish(topic, str(i), qos=0)
    recorder.wait_for(topic, lambda m: m.payload == b"299", timeout=5)
    stop.set()
    for t in threads:
        t.join(5)
    assert not errors
    assert len(recorder.messages(topic)) == 300


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least one topic"):
        MqttRecorder("mqtt://127.0.0.1", [])
    with pytest.raises(ValueError, match="must be mqtt://"):
        MqttRecorder("http://127.0.0.1", TOPICS)
