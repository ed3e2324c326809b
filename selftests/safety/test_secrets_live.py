"""Secrets never reach an artefact: plant known secrets on the `safety` simulator, run the suite over SSH, and
scan every file the run wrote (report.html, summary.json, telemetry.json, junit.xml, plots, the design doc
section) and its terminal output for them, also inside base64 (self-contained HTML embeds its extras so).

Planted (fresh random values each run):
- the broker password in the environment variable the profile's ``mqtt.password_env`` names (the sim's
  mosquitto allows anonymous clients, so it ignores it, as the issue allows);
- in the device's ``config/jetson.env``, in every form a key-name rule misses or a URL hides: a token, an MQTT
  password, an API key, a broker URL with credentials (``MQTT_URL``), ``DB_PASS``, ``PASSWD``, ``X_AUTH``,
  ``Y_CREDENTIALS``, and a URL password inside a key the report shows (``VL_JEPA_MQTT_URL``); the agents are
  recreated, so they are in the containers' environment too;
- ``X_AUTH``'s value in a line of the agent's log (the report attaches the log's tail);
- the SSH key: its file name carries a secret, its private body is one, and a passphrase sits in the run's
  environment;
- a password in ``--mqtt-url`` (a second, short run: the URL is refused, and its message must not quote it).

The env file is restored byte for byte and the agents recreated afterwards.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from jetson_hil import suite_run
from jetson_hil.sim import simulator

ROOT = Path(__file__).resolve().parents[2]
B64 = re.compile(rb"[A-Za-z0-9+/]{24,}={0,2}")
LOG_MARKER = "jetson-hil-selftest planted line:"


def _secret(label: str) -> str:
    return f"jhs{label}{secrets.token_hex(10)}"


def _texts(data: bytes) -> list[bytes]:
    """The file's bytes and every base64 run in it, decoded."""
    out = [data]
    for run in B64.findall(data):
        try:
            out.append(base64.b64decode(run + b"=" * (-len(run) % 4)))
        except ValueError:
            continue
    return out


def leaks(planted: dict[str, str], files: list[Path], outputs: dict[str, str]) -> list[str]:
    found = []
    sources = {str(f): f.read_bytes() for f in files} | {k: v.encode() for k, v in outputs.items()}
    for where, data in sources.items():
        texts = _texts(data)
        for what, value in planted.items():
            if any(value.encode() in t for t in texts):
                found.append(f"{what} found in {where}")
    return found


def test_the_scan_finds_plain_and_base64_secrets(tmp_path: Path) -> None:
    secret = _secret("probe")
    plain, encoded, clean = tmp_path / "a.json", tmp_path / "b.html", tmp_path / "c.txt"
    plain.write_text(f'{{"env": "{secret}"}}')
    encoded.write_text('<a href="data:text/plain;base64,' + base64.b64encode(f"x\n{secret}\n".encode()).decode() + '">')
    clean.write_text("nothing here")
    found = leaks({"token": secret}, [plain, encoded, clean], {"output": f"E   {secret}"})
    assert found == [f"token found in {plain}", f"token found in {encoded}", "token found in output"]


@pytest.fixture
def planted_env_file(safety_sim):
    """Secrets appended to the device's env file and the agents recreated with them; restored after."""
    env_path = safety_sim.root / "project" / "config" / "jetson.env"
    original = env_path.read_bytes()
    planted = {
        "env-file token": _secret("tok"),
        "env-file MQTT password": _secret("mqp"),
        "container API key": _secret("key"),
        "MQTT_URL password": _secret("url"),
        "DB_PASS": _secret("db"),
        "PASSWD": _secret("pwd"),
        "X_AUTH (also in an agent log line)": _secret("auth"),
        "Y_CREDENTIALS": _secret("cred"),
        "VL_JEPA_MQTT_URL password (a shown key)": _secret("vurl"),
    }
    extra = (
        f"HF_TOKEN={planted['env-file token']}\nMQTT_PASSWORD={planted['env-file MQTT password']}\n"
        f"INFERENCE_API_KEY={planted['container API key']}\n"
        f"MQTT_URL=mqtt://hil:{planted['MQTT_URL password']}@127.0.0.1:1883\n"
        f"DB_PASS={planted['DB_PASS']}\nPASSWD={planted['PASSWD']}\n"
        f"X_AUTH={planted['X_AUTH (also in an agent log line)']}\nY_CREDENTIALS={planted['Y_CREDENTIALS']}\n"
        f"VL_JEPA_MQTT_URL=mqtt://hil:{planted['VL_JEPA_MQTT_URL password (a shown key)']}@127.0.0.1:1883\n"
    )
    env_path.write_bytes(original + extra.encode())
    try:
        simulator.compose(safety_sim, "up -d", timeout=300)
        simulator.wait_for_embeddings(safety_sim)
        yield planted
    finally:
        env_path.write_bytes(original)
        simulator.compose(safety_sim, "up -d", timeout=300)
        simulator.wait_for_embeddings(safety_sim)
        assert env_path.read_bytes() == original


def test_no_planted_secret_in_any_artefact(safety_sim, planted_env_file, tmp_path: Path) -> None:
    planted = dict(planted_env_file)
    agent = subprocess.run(
        ["docker", "inspect", "-f", "{{json .Config.Env}}", safety_sim.layout().container("vl_jepa")],
        capture_output=True, text=True, timeout=30,
    ).stdout
    assert planted["container API key"] in agent, "the planted key did not reach the agent container's env"
    container = safety_sim.layout().container("vl_jepa")
    line = f"{LOG_MARKER} login with X_AUTH={planted['X_AUTH (also in an agent log line)']}"
    subprocess.run(["docker", "exec", container, "sh", "-c", 'printf "%s\\n" "$1" > /proc/1/fd/1', "sh", line],
                   check=True, capture_output=True, timeout=30)
    logs = subprocess.run(["docker", "logs", "--tail", "20", container], capture_output=True, text=True, timeout=30)
    assert line in logs.stdout + logs.stderr, "the planted line is not in the agent's log"

    key_marker = _secret("path")
    key = tmp_path / f"id_ed25519_{key_marker}"
    shutil.copyfile(safety_sim.root / "ssh" / "id_ed25519", key)
    key.chmod(0o600)
    body = "".join(key.read_text().splitlines()[1:-1])
    planted |= {
        "broker password (mqtt.password_env)": _secret("brk"),
        "SSH key path": key_marker,
        "SSH private key body": body[20:60],
        "SSH key passphrase (env)": _secret("pass"),
    }
    profile = (safety_sim.root / "device-ssh.toml").read_text()
    profile = re.sub(r'ssh_identity = ".*"', f'ssh_identity = "{key}"', profile)
    profile = profile.replace("[mqtt]\n", '[mqtt]\nusername_env = "JH_MQTT_USER"\npassword_env = "JH_MQTT_PASSWORD"\n')
    device = tmp_path / "device-secrets.toml"
    device.write_text(profile)
    doc = tmp_path / "design.md"
    doc.write_text("# design\n")
    reports = tmp_path / "reports"
    env = {
        "JH_MQTT_USER": "hil",
        "JH_MQTT_PASSWORD": planted["broker password (mqtt.password_env)"],
        "JETSON_SSH_PASSPHRASE": planted["SSH key passphrase (env)"],
    }
    os.environ.update(env)
    try:
        run = suite_run.run(
            [f"--device={device}", "--window", "6", "--report-dir", str(reports / "full"), f"--attach-doc={doc}"],
            ROOT, reports / "full" / "junit.xml", 600,
        )
        url_secret = _secret("url")
        planted["broker URL password"] = url_secret
        port = re.search(r'url = "mqtt://127.0.0.1:(\d+)"', profile).group(1)
        refused = suite_run.run(
            [f"--device={device}", f"--mqtt-url=mqtt://hil:{url_secret}@127.0.0.1:{port}",
             "--report-dir", str(reports / "refused"), "tests/host/test_task1_gpu_diag.py"],
            ROOT, reports / "refused" / "junit.xml", 120,
        )
    finally:
        for name in env:
            os.environ.pop(name, None)

    assert len(run.outcomes) >= 35 and not run.of("error"), run.describe()
    assert "mqtt.url" in refused.output and ":***@" in refused.output, refused.describe()
    summary = (reports / "full" / "summary.json").read_text()
    assert '"HF_TOKEN": "***"' in summary, "the env table did not list the planted token (so it was not tested)"
    assert '"DB_PASS": "***"' in summary and '"VL_JEPA_MQTT_URL": "mqtt://hil:***@127.0.0.1:1883"' in summary
    page = _texts((reports / "full" / "report.html").read_bytes())
    assert any(LOG_MARKER.encode() in t for t in page), "the agent's log tail is not in the report (so not tested)"
    files = sorted(p for p in reports.rglob("*") if p.is_file()) + sorted(tmp_path.glob("design.md*"))
    assert {"report.html", "summary.json", "junit.xml", "telemetry.json"} <= {p.name for p in files}
    assert "jetson-hil:begin" in doc.read_text()
    found = leaks(planted, files, {"pytest output (full run)": run.output, "pytest output (refused)": refused.output})
    assert not found, "secrets leaked:\n" + "\n".join(found)
