"""`sim down` leaves no container, volume, mount or process of the device behind."""

from __future__ import annotations

import socket
import subprocess

from selftest_state import sim_name

from jetson_hil.sim import engine, simulator

NAME = sim_name("down")


def _leftovers(cfg) -> list[str]:
    found = []
    client = engine.client()
    for c in client.containers.list(all=True):
        if c.name == cfg.container or c.labels.get("com.docker.compose.project") == cfg.name:
            found.append(f"container {c.name}")
    for v in client.volumes.list():
        if v.attrs.get("Labels", {}) and v.attrs["Labels"].get("com.docker.compose.project") == cfg.name:
            found.append(f"volume {v.name}")
    with open("/proc/mounts") as f:
        found += [f"mount {line.split()[1]}" for line in f if str(cfg.root) in line]
    for port in (cfg.ssh_port, cfg.mqtt_port):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                found.append(f"a process listening on 127.0.0.1:{port}")
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    found += [f"process {line}" for line in ps.splitlines() if str(cfg.root) in line]
    return found


def test_down_leaves_nothing_behind(sim):
    cfg = simulator.up(simulator.SimConfig(name=NAME, encoder="tiny", rate=2.0), log=lambda m: None)
    assert _leftovers(cfg), "the device was not up to begin with"
    simulator.down(NAME, purge=True, log=lambda m: None)
    assert _leftovers(cfg) == []
