"""Recorder capacity (issue 7): can the session's recorders keep up with a real device's evidence?

1. MQTT: a local mosquitto started here (a free port, a temporary config, stopped after) receives 768-float
   JSON payloads at ``--rate`` (2000) msg/s for ``--seconds`` (10) from a publisher in its own process (so it
   does not share the recorder's GIL); `MqttRecorder` records them. Target: zero loss (every seq received,
   nothing evicted), receive timestamps monotonic.
2. Telemetry: `TelemetryRecorder` at 100 ms intervals against the simulated device's tegrastats through
   ``docker exec`` (the device host is a container), for ``--seconds``; samples/s, seconds with fewer samples
   than expected (gaps), and a check that no tegrastats process is left running on the device afterwards.

Run as root with the simulator up: ``.venv/bin/python bench/recorder_capacity.py [--sim sim1]``. Prints figures.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from jetson_hil.mqtt_recorder import MqttRecorder
from jetson_hil.telemetry import TelemetryRecorder

TOPIC = "vision/embeddings"
DIM = 768

PUBLISHER = r"""
import json, random, sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
port, rate, seconds, dim = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rng = random.Random(1)
bodies = [json.dumps([float(f"{rng.gauss(0, 0.05):.6g}") for _ in range(dim)]) for _ in range(64)]
c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="capacity-pub")
c.max_queued_messages_set(0)
c.connect("127.0.0.1", port)
c.loop_start()
total = int(rate * seconds)
start = time.perf_counter()
size = 0
for seq in range(1, total + 1):
    due = start + (seq - 1) / rate
    delay = due - time.perf_counter()
    if delay > 0:
        time.sleep(delay)
    payload = '{"seq": %d, "ts": %.6f, "embedding": %s}' % (seq, time.time(), bodies[seq % 64])
    size += len(payload)
    c.publish("vision/embeddings", payload, qos=0)
elapsed = time.perf_counter() - start
time.sleep(1.0)
c.loop_stop()
c.disconnect()
print(json.dumps({"sent": total, "seconds": elapsed, "bytes": size}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mqtt_capacity(rate: float, seconds: float) -> dict:
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = _free_port()
    folder = tempfile.mkdtemp(prefix="capacity-")
    conf = os.path.join(folder, "mosquitto.conf")
    with open(conf, "w", encoding="utf-8") as fh:
        fh.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\npersistence false\n")
    broker = subprocess.Popen([mosquitto, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        recorder = MqttRecorder(f"mqtt://127.0.0.1:{port}", [TOPIC], max_messages_per_topic=int(rate * seconds) + 10)
        recorder.start(timeout=10)
        pub = subprocess.run(
            [sys.executable, "-c", PUBLISHER, str(port), str(rate), str(seconds), str(DIM)],
            capture_output=True,
            text=True,
            timeout=seconds * 4 + 60,
        )
        if pub.returncode != 0:
            raise SystemExit(f"publisher failed: {pub.stderr[-1000:]}")
        sent = json.loads(pub.stdout.strip().splitlines()[-1])
        time.sleep(2.0)
        messages = recorder.messages(TOPIC)
        stats = recorder.stats()
        recorder.stop()
    finally:
        broker.terminate()
        try:
            broker.wait(timeout=5)
        except subprocess.TimeoutExpired:
            broker.kill()
        shutil.rmtree(folder, ignore_errors=True)
    seqs = set()
    for m in messages:
        obj, _ = m.decode()
        if obj:
            seqs.add(obj.get("seq"))
    monos = [m.received_mono for m in messages]
    walls = [m.received for m in messages]
    missing = sent["sent"] - len(seqs & set(range(1, sent["sent"] + 1)))
    span = monos[-1] - monos[0] if len(monos) > 1 else 0.0
    return {
        "sent": sent["sent"],
        "publish_seconds": round(sent["seconds"], 3),
        "offered_rate": round(sent["sent"] / sent["seconds"], 1),
        "payload_kb": round(sent["bytes"] / sent["sent"] / 1024, 2),
        "received": len(messages),
        "missing": missing,
        "evicted": stats["topics"][TOPIC]["dropped"] if "topics" in stats else None,
        "received_rate": round((len(messages) - 1) / span, 1) if span else None,
        "mono_monotonic": all(b >= a for a, b in zip(monos, monos[1:], strict=False)),
        "wall_monotonic": all(b >= a for a, b in zip(walls, walls[1:], strict=False)),
    }


def telemetry_capacity(sim: str, seconds: float, interval_ms: int = 100) -> dict:
    from jetson_hil.sim import simulator

    cfg = simulator.SimConfig.load(sim)
    if cfg is None:
        raise SystemExit(f"no simulator {sim!r}: `jetson-hil sim up --name {sim}` first")

    def run(command: str, timeout: float) -> tuple[int, str, str]:
        p = subprocess.run(
            ["docker", "exec", cfg.container, "sh", "-c", command], capture_output=True, text=True, timeout=timeout
        )
        return p.returncode, p.stdout, p.stderr

    def tegrastats_procs() -> int:
        _, out, _ = run("ps -eo args | grep -c '^tegrastats' || true", 10)
        return int(out.strip() or 0)

    before = tegrastats_procs()
    rec = TelemetryRecorder(run, interval_ms=interval_ms, sudo=False, poll_interval_s=0.5).start()
    start = time.monotonic()
    time.sleep(seconds)
    rec.stop()
    elapsed = time.monotonic() - start
    samples = rec.samples()
    after = tegrastats_procs()
    per_second = collections.Counter(
        s.sample.timestamp.replace(microsecond=0) for s in samples if getattr(s.sample, "timestamp", None)
    )
    full = sorted(per_second.items())[1:-1]
    expected = 1000 / interval_ms
    return {
        "samples": len(samples),
        "seconds": round(elapsed, 2),
        "samples_per_s": round(len(samples) / elapsed, 2),
        "expected_per_s": expected,
        "seconds_short_of_samples": sum(1 for _, n in full if n < 0.8 * expected),
        "min_samples_in_a_second": min((n for _, n in full), default=None),
        "error": rec.error,
        "tegrastats_before": before,
        "tegrastats_after": after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sim", default="sim1")
    parser.add_argument("--skip-telemetry", action="store_true")
    args = parser.parse_args()
    m = mqtt_capacity(args.rate, args.seconds)
    print(f"mqtt: {json.dumps(m)}")
    ok = m["missing"] == 0 and not m["evicted"] and m["mono_monotonic"]
    print(f"mqtt verdict: {'PASS' if ok else 'FAIL'} (zero loss and monotonic receive times at {args.rate:g} msg/s)")
    if not args.skip_telemetry:
        t = telemetry_capacity(args.sim, args.seconds)
        print(f"telemetry: {json.dumps(t)}")
        tok = not t["error"] and t["tegrastats_after"] <= t["tegrastats_before"]
        print(f"telemetry verdict: {'PASS' if tok else 'FAIL'} ({t['samples_per_s']} samples/s at 100 ms)")


if __name__ == "__main__":
    main()
