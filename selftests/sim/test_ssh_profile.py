"""The remote path nightly HIL CI uses: the host and container modules over testinfra ssh:// and
DOCKER_HOST=ssh://, against the simulated device's SSH endpoint and the profile `sim up` wrote for it."""

from __future__ import annotations

import subprocess
import sys

from jetson_hil import junit
from jetson_hil.sim.paths import REPO_DIR


def test_host_and_container_modules_pass_over_ssh(sim, tmp_path):
    profile = sim.root / "device-ssh.toml"
    assert 'host = "ssh://' in profile.read_text() and 'docker_url = "ssh://' in profile.read_text()
    xml = tmp_path / "junit.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "jetson and (host or container)", "-p", "no:randomly",
         f"--device={profile}", "--junitxml", str(xml), "tests/host", "tests/container"],
        cwd=REPO_DIR, capture_output=True, text=True, timeout=600,
    )
    results = junit.read(xml)
    bad = [f"{r.test_id}: {r.message.splitlines()[0] if r.message else ''}" for r in results
           if r.outcome in ("failed", "error")]
    assert not bad, "over SSH:\n" + "\n".join(bad) + "\n" + proc.stdout[-2000:]
    assert sum(r.outcome == "passed" for r in results) >= 30, proc.stdout[-2000:]
