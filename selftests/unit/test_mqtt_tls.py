"""MQTT over TLS with the profile's CA and client certificate, against a real mosquitto that requires both: a CA,
a server and a client certificate made with openssl in a temporary folder. The recorder records over TLS with
the right files, and each wrong one (no client certificate, another CA, a missing file) is one line."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from jetson_hil.mqtt_recorder import MqttRecorder, RecorderError
from jetson_hil.profile import ProfileError, profile_from_dict

MOSQUITTO = "/usr/sbin/mosquitto"
TOPIC = "vision/embeddings"
pytestmark = pytest.mark.skipif(
    not os.path.exists(MOSQUITTO) or not shutil.which("openssl"), reason="mosquitto or openssl is not installed"
)


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)


def _ca(folder: Path, name: str) -> None:
    _openssl(folder, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
             "-keyout", f"{name}.key", "-out", f"{name}.pem")  # fmt: skip


def _signed(folder: Path, ca: str, name: str, ext: str) -> None:
    (folder / f"{name}.ext").write_text(ext)
    _openssl(folder, "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
             "-out", f"{name}.csr")  # fmt: skip
    _openssl(folder, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem")  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    _ca(folder, "lab-ca")
    _ca(folder, "other-ca")
    _signed(folder, "lab-ca", "broker", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    _signed(folder, "lab-ca", "runner", "extendedKeyUsage=clientAuth\n")
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def broker(pki: Path) -> Iterator[int]:
    """mosquitto with a TLS listener that requires a client certificate signed by lab-ca."""
    port = _free_port()
    conf = pki / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n"
        f"cafile {pki / 'lab-ca.pem'}\ncertfile {pki / 'broker.pem'}\nkeyfile {pki / 'broker.key'}\n"
        "require_certificate true\n"
    )
    log = pki / "mosquitto.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=out, stderr=out)
    deadline = time.monotonic() + 10  # a hang guard; mosquitto listens in milliseconds
    while True:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"mosquitto did not start: {log.read_text()[-2000:]}")
        time.sleep(0.02)
    yield port
    proc.terminate()
    proc.wait(10)


def _profile(port: int, pki: Path, **tls: str):
    return profile_from_dict({"device": {"name": "d"}, "mqtt": {"url": f"mqtts://127.0.0.1:{port}", **tls}})


def test_records_over_tls_with_the_profiles_ca_and_client_certificate(broker, pki):
    p = _profile(broker, pki, ca_file=str(pki / "lab-ca.pem"), cert_file=str(pki / "runner.pem"),
                 key_file=str(pki / "runner.key"))  # fmt: skip
    with MqttRecorder(p.mqtt.url, [TOPIC], **p.mqtt.tls_paths()) as rec:
        pub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="tls-pub")
        pub.tls_set(ca_certs=str(pki / "lab-ca.pem"), certfile=str(pki / "runner.pem"), keyfile=str(pki / "runner.key"))
        pub.connect("127.0.0.1", broker)
        pub.loop_start()
        try:
            pub.publish(TOPIC, b'{"seq": 1}', qos=1).wait_for_publish(5)
            assert rec.wait_for(TOPIC, timeout=10), "the message published over TLS was recorded"
        finally:
            pub.disconnect()
            pub.loop_stop()


def test_without_the_client_certificate_the_broker_says_no(broker, pki):
    p = _profile(broker, pki, ca_file=str(pki / "lab-ca.pem"))
    with pytest.raises(RecorderError) as err:
        MqttRecorder(p.mqtt.url, [TOPIC], **p.mqtt.tls_paths()).start(timeout=2)
    assert str(err.value).startswith(f"MQTT broker 127.0.0.1:{broker}") and "\n" not in str(err.value)
    assert "requires a client certificate" in str(err.value) or "alert" in str(err.value).lower(), err.value


def test_a_broker_signed_by_another_ca_fails_verification(broker, pki):
    p = _profile(broker, pki, ca_file=str(pki / "other-ca.pem"), cert_file=str(pki / "runner.pem"),
                 key_file=str(pki / "runner.key"))  # fmt: skip
    with pytest.raises(RecorderError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        MqttRecorder(p.mqtt.url, [TOPIC], **p.mqtt.tls_paths()).start(timeout=2)


def test_a_missing_tls_file_is_named(pki):
    with pytest.raises(RecorderError, match=r"TLS ca_file /nonexistent/ca.pem is not a readable file"):
        MqttRecorder("mqtts://127.0.0.1:8883", [TOPIC], ca_file="/nonexistent/ca.pem").start(timeout=1)
    with pytest.raises(RecorderError, match="TLS files unusable"):
        MqttRecorder("mqtts://127.0.0.1:8883", [TOPIC], ca_file=str(pki / "runner.ext")).start(timeout=1)


def test_the_profile_keeps_tls_files_to_mqtts_and_pairs(pki):
    with pytest.raises(ProfileError, match=r"mqtt.ca_file = .*needs an mqtts:// broker URL"):
        profile_from_dict({"device": {"name": "d"}, "mqtt": {"url": "mqtt://h", "ca_file": "ca.pem"}})
    with pytest.raises(ProfileError, match=r"mqtt.key_file: required with mqtt.cert_file"):
        profile_from_dict({"device": {"name": "d"}, "mqtt": {"url": "mqtts://h", "cert_file": "c.pem"}})
    p = profile_from_dict({"device": {"name": "d"}, "mqtt": {"url": "mqtts://h", "ca_file": "~/ca.pem"}})
    assert p.mqtt.tls_paths()["ca_file"] == os.path.expanduser("~/ca.pem")
