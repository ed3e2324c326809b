"""A profile that names no docker_url takes the environment's engine as the docker CLI picks it
(jetson_hil.docker_endpoint): DOCKER_HOST, else DOCKER_CONTEXT or the config's current context, else the local
socket; an unusable context is one clear line. The last test resolves a real run's profile that way."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jetson_hil.docker_endpoint import DEFAULT_URL, EndpointError, from_environment
from jetson_hil.profile import profile_from_dict

ROOT = Path(__file__).resolve().parents[2]


def _context(config_dir: Path, name: str, host: str, current: bool = False, tls: bool = False) -> None:
    """A docker context as `docker context create NAME --docker host=HOST` writes it."""
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.json").write_text(json.dumps({"currentContext": name} if current else {}))
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config_dir / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps(
        {"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}}}
    ))  # fmt: skip
    if tls:
        certs = config_dir / "contexts" / "tls" / digest / "docker"
        certs.mkdir(parents=True)
        for f in ("ca.pem", "cert.pem", "key.pem"):
            (certs / f).write_text("-----BEGIN CERTIFICATE-----\n")


@pytest.fixture
def docker_config(tmp_path, monkeypatch) -> Path:
    for var in ("DOCKER_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    return tmp_path / "docker"


def test_no_setting_is_the_local_socket(docker_config):
    assert from_environment() == (DEFAULT_URL, "the default socket")


def test_docker_host_comes_first(docker_config, monkeypatch):
    _context(docker_config, "orin", "ssh://jetson@orin", current=True)
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.5:2375")
    assert from_environment() == ("tcp://10.0.0.5:2375", "DOCKER_HOST")


def test_the_current_context_and_docker_context(docker_config, monkeypatch):
    _context(docker_config, "orin", "ssh://jetson@orin", current=True)
    assert from_environment() == ("ssh://jetson@orin", "docker context orin")
    monkeypatch.setenv("DOCKER_CONTEXT", "default")
    assert from_environment()[0] == DEFAULT_URL
    monkeypatch.setenv("DOCKER_CONTEXT", "nano")
    with pytest.raises(EndpointError, match=r"docker context 'nano' \(DOCKER_CONTEXT\) does not exist"):
        from_environment()


def test_a_context_with_tls_certificates_is_refused(docker_config):
    _context(docker_config, "secure", "tcp://orin:2376", current=True, tls=True)
    with pytest.raises(EndpointError, match="uses TLS certificates"):
        from_environment()


def test_the_profile_default_is_the_environment_and_a_named_url_stays():
    assert profile_from_dict({"device": {"name": "d"}}).device.docker_url == ""
    named = profile_from_dict({"device": {"name": "d", "docker_url": "unix:///var/run/docker.sock"}})
    assert named.device.docker_url == "unix:///var/run/docker.sock"


def test_a_run_resolves_a_profile_without_docker_url_from_docker_host(tmp_path):
    (tmp_path / "p.toml").write_text('[device]\nname = "orin"\nhost = "ssh://jetson@orin"\n')
    (tmp_path / "test_probe.py").write_text(
        "pytest_plugins = ['fixtures.options']\n\n"
        "def test_p(profile):\n"
        "    print('DOCKER_URL', profile.device.docker_url)\n"
    )

    def run(docker_host: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-q", "-s",
             "-p", "no:randomly", "-p", "no:cacheprovider", "-p", "fixtures.options", str(tmp_path / "test_probe.py"),
             f"--device={tmp_path / 'p.toml'}"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT), "DOCKER_HOST": docker_host},
        )  # fmt: skip

    ok = run("ssh://jetson@orin:2222")
    assert "DOCKER_URL ssh://jetson@orin:2222" in ok.stdout, ok.stdout[-2000:] + ok.stderr[-2000:]
    assert "Docker engine ssh://jetson@orin:2222 from DOCKER_HOST (the profile names none)" in ok.stdout
    bad = run("npipe:////./pipe/docker_engine")
    assert bad.returncode == 4 and "jetson-hil: the profile names no docker_url and" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr
