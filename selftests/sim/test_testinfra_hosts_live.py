"""testinfra's --hosts drives the run: with no device profile, --hosts=ssh://... tests that host over SSH on the
profile's defaults, reached only through what testinfra's options say (--ssh-config gives the address and port,
--ssh-identity-file the key, --ssh-extra-args the host-key policy, --sudo the privileged commands); a host that
does not answer fails the run naming that host, so the default device was never what answered."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from jetson_hil import junit
from jetson_hil.profile import load_profile
from jetson_hil.sim.paths import REPO_DIR

DEFAULT_PROJECT = "/home/jetson/agents"  # the profile's default project dir: the one thing --hosts cannot say
TIMEOUT_S = 600  # a hang guard: Task 1 over SSH takes about 15 s


def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[junit.Outcome]]:
    xml = tmp_path / "junit.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", "pyproject.toml", "--rootdir", ".", "-p", "no:randomly",
         "-m", "jetson and task1", "--junitxml", str(xml), "--report-dir", str(tmp_path / "report"), *args],
        cwd=REPO_DIR, capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    return proc, junit.read(xml)


def test_hosts_with_testinfras_ssh_options_runs_task1_on_the_simulator_over_ssh(sim, tmp_path):
    ssh = load_profile(sim.root / "device-ssh.toml")
    port = re.search(r":(\d+)$", ssh.device.host).group(1)
    config = tmp_path / "ssh_config"
    config.write_text(f"Host jetson-under-test\n  HostName 127.0.0.1\n  Port {port}\n  User root\n")
    proc, results = _run(
        tmp_path, "--hosts=ssh://jetson-under-test", f"--ssh-config={config}",
        f"--ssh-identity-file={ssh.device.ssh_identity}", "--sudo", f"--mqtt-url={ssh.mqtt.url}",
        "--ssh-extra-args=-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert "[jetson-hil] device jetson-under-test: --hosts ssh://jetson-under-test on the profile's defaults" in out
    passed = [r for r in results if r.outcome == "passed"]
    failed = [r for r in results if r.outcome in ("failed", "error")]
    assert len(passed) >= 10, out[-3000:]
    assert any("release" in r.test_id for r in passed), "the Tegra release was read over SSH"
    assert all(DEFAULT_PROJECT in (r.message or "") for r in failed), (
        "only the checks that need the profile's project dir may fail:\n"
        + "\n".join(f"{r.test_id}: {(r.message or '').splitlines()[:1]}" for r in failed)
    )


def test_a_hosts_url_that_does_not_answer_fails_naming_it(sim, tmp_path):
    ssh = load_profile(sim.root / "device-ssh.toml")
    proc, results = _run(
        tmp_path, "--hosts=ssh://root@127.0.0.1:1", f"--ssh-identity-file={ssh.device.ssh_identity}",
        f"--mqtt-url={ssh.mqtt.url}",
    )  # fmt: skip
    assert proc.returncode == 1 and not any(r.outcome == "passed" for r in results)
    assert "device 127.0.0.1-1 over ssh://root@127.0.0.1:1 unreachable" in proc.stdout, proc.stdout[-2000:]
