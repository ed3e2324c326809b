"""Bad payloads through a real broker: the recorder keeps recording, the checks fail with clear messages.

Publishes, on the `safety` simulator's mosquitto, what a broken or hostile publisher can send: non-UTF-8
bytes, NaN and Infinity, wrong types, deeply nested JSON, an empty payload and 10 MB payloads. First into
the real `MqttRecorder` directly (every message recorded, the ones after them too, each decodes to a
one-line problem); then into the embeddings topic while the Task 3 checks run, which must fail on them by
name and still end normally (no internal error, no traceback page).
"""

from __future__ import annotations

import json
import secrets
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from jetson_hil import payloads, suite_run
from jetson_hil.mqtt_recorder import MqttRecorder
from jetson_hil.profile import FieldPaths

ROOT = Path(__file__).resolve().parents[2]
TEN_MB = 10 * 1024 * 1024
BAD = [
    b"\xff\xfe\x00garbage",
    b'{"embedding": [NaN, Infinity, -Infinity], "dim": 3}',
    b'{"embedding": "0.1 0.2", "dim": "64", "seq": "one"}',
    b'{"embedding": [true, null, {}], "dim": 3}',
    b"[" * 50_000 + b"]" * 50_000,
    b"",
    b"null",
    b'{"embedding": [' + b"0.5," * (TEN_MB // 4) + b"0.5]}",
    b"\x00" * TEN_MB,
]


def _publisher(port: int) -> mqtt.Client:
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"bad-{secrets.token_hex(4)}")
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    return client


def _publish_all(client: mqtt.Client, topic: str, items: list[bytes]) -> None:
    for item in items:
        client.publish(topic, item, qos=1).wait_for_publish(timeout=60)


def test_the_recorder_records_bad_payloads_and_keeps_going(safety_sim) -> None:
    topic = f"jetson-hil/selftest/{secrets.token_hex(4)}"
    recorder = MqttRecorder(f"mqtt://127.0.0.1:{safety_sim.mqtt_port}", [topic]).start(timeout=20)
    client = _publisher(safety_sim.mqtt_port)
    try:
        _publish_all(client, topic, [*BAD, b'{"embedding": [0.6, 0.8], "dim": 2}'])
        got = recorder.wait_for(topic, count=len(BAD) + 1, timeout=120)
    finally:
        client.loop_stop()
        client.disconnect()
        recorder.stop()
    assert [len(m.payload) for m in got] == [len(b) for b in [*BAD, b'{"embedding": [0.6, 0.8], "dim": 2}']]
    assert recorder.stats()["dropped"] == 0
    problems = []
    for m in got[:-1]:
        obj, problem = m.decode()
        found = [problem] if problem else payloads.check_embedding(obj, FieldPaths(), 2, 0.1, 10)
        assert found and all("\n" not in p and len(p) < 400 for p in found), (m.payload[:60], found)
        problems.extend(found)
    obj, problem = got[-1].decode()
    assert problem is None and payloads.check_embedding(obj, FieldPaths(), 2, 0.1, 10) == []
    assert any("not UTF-8" in p for p in problems) and any("not finite" in p for p in problems)
    assert any("nested too deeply" in p or "invalid JSON" in p for p in problems)


def test_checks_fail_by_name_on_bad_embeddings_and_the_session_ends_normally(safety_sim, tmp_path: Path) -> None:
    client = _publisher(safety_sim.mqtt_port)
    stop = threading.Event()

    def flood() -> None:
        while not stop.is_set():
            _publish_all(client, "vision/embeddings", BAD[:4] + BAD[5:7])
            stop.wait(0.5)

    feeder = threading.Thread(target=flood, daemon=True)
    feeder.start()
    try:
        run = suite_run.run(
            [f"--device=sim:{safety_sim.name}", "--window", "6", "--report-dir", str(tmp_path / "r"),
             "tests/mqtt/test_task3_gpu_embeddings.py"],
            ROOT, tmp_path / "junit.xml", 300,
        )
    finally:
        stop.set()
        feeder.join(30)
        client.loop_stop()
        client.disconnect()
    assert run.outcomes, run.describe()
    assert "INTERNALERROR" not in run.output and "Traceback" not in run.output, run.output[-3000:]
    assert not run.of("error"), run.describe()
    failed = run.of("failed")
    for name in ("test_payloads_are_json_objects", "test_embedding_is_a_list_of_finite_numbers_of_the_expected_dim"):
        test = next((o for tid, o in failed.items() if tid.endswith(name)), None)
        assert test is not None, f"{name} did not fail on the bad payloads:\n{run.describe()}"
        first = test.message.splitlines()[0]
        assert "not UTF-8" in test.message or "not finite" in test.message or "not numbers" in test.message, first
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["data"]["mqtt"]["received"] > 0
