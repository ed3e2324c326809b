#!/usr/bin/env python3
"""The real GPU's users and load, written where the simulated GPU writes its own (simulator on a real GPU).

With the host's GPU given to the agents (``jetson_hil.sim.real_gpu``) nothing simulated reports GPU use any more;
this reads NVML instead, every ``--interval`` seconds, and writes

* one client file per compute process, ``<gpu dir>/clients/nvml-<pid>.json``, in the simulated GPU's format
  (pid, host, container, cmdline, busy_ns, started, updated) plus ``"gpu": "real"`` and its memory: ``busy_ns`` is
  the process's SM time from NVML's per-process samples (whole percents of ~1/6 s: short kernels on a fast GPU
  read 0, so a real client's presence, not its busy time, is the evidence that it computes on the GPU);
* ``<gpu dir>/utilization.json``: the GPU's utilisation, which the simulated tegrastats prints as GR3D.

Pids are host pids (NVML's); the container id comes from ``/proc/<pid>/cgroup``. Files of processes that left
are removed, and all of them on exit. Standard library plus ``pynvml`` (nvidia-ml-py); without it ``nvidia-smi``
gives processes and utilisation, and busy time stays 0. The NVML and nvidia-smi reading is
tools/jetson/gpu_sampler.py's, the suite's sampler for dGPU hosts.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import importlib.util
import json
import os
import re
import signal
import socket
import sys
import threading
import time

PREFIX = "nvml-"
SAMPLER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "jetson", "gpu_sampler.py")


def _load_sampler():
    """The NVML and nvidia-smi reading of tools/jetson/gpu_sampler.py, which this runs beside (by path: it is a
    standalone script that the suite copies to devices)."""
    spec = importlib.util.spec_from_file_location("jetson_hil_gpu_sampler", SAMPLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sampler = _load_sampler()


def container_of(cgroup_text: str) -> str | None:
    """The Docker container id in a ``/proc/<pid>/cgroup`` (cgroup v1 or v2, cgroupfs or systemd driver).

    >>> container_of("0::/system.slice/docker-" + "a" * 64 + ".scope\\n")[:4]
    'aaaa'
    """
    m = re.search(r"(?:docker[-/]|/)([0-9a-f]{64})(?:\.scope)?\s*$", cgroup_text, flags=re.M)
    return m[1] if m else None


def _read(path: str, mode: str = "r") -> str | bytes | None:
    try:
        with open(path, mode) as fh:
            return fh.read()
    except OSError:
        return None


def process_started(pid: int) -> float | None:
    """Wall-clock start of a process (its /proc stat start time past boot): with the pid, its identity."""
    stat, uptime = _read(f"/proc/{pid}/stat"), _read("/proc/uptime")
    if not stat or not uptime:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    boot = time.time() - float(uptime.split()[0])
    return round(boot + int(fields[19]) / ticks, 2)


def cmdline(pid: int) -> list[str]:
    """The argument list, as the simulated GPU's clients record it (the sampler's is one string)."""
    raw = _read(f"/proc/{pid}/cmdline", "rb")
    return [p.decode(errors="replace") for p in raw.split(b"\0") if p] if raw else []


class Busy:
    """SM time per pid from NVML's per-process samples, each counted once (the driver keeps a short ring)."""

    def __init__(self, period_s: float = 1 / 6) -> None:
        self.ns: dict[int, int] = {}
        self.last_ts = int(time.time() * 1e6)
        self.period_s = period_s
        self.seen: set[tuple[int, int]] = set()

    def add(self, samples: list[tuple[int, int, int]]) -> None:
        """(pid, timestamp_us, sm_percent) samples; repeats of one already counted are skipped."""
        for pid, ts, sm in samples:
            if (pid, ts) in self.seen:
                continue
            self.seen.add((pid, ts))
            self.ns[pid] = self.ns.get(pid, 0) + int(max(0, sm) / 100 * self.period_s * 1e9)
            self.last_ts = max(self.last_ts, ts)
        if len(self.seen) > 10_000:
            self.seen = {k for k in self.seen if k[1] >= self.last_ts - 10_000_000}


class Nvml:
    """The GPU through the device tool's own sampler (tools/jetson/gpu_sampler.py): pynvml when importable and
    the driver answers, else nvidia-smi."""

    def __init__(self, index: int = 0) -> None:
        self.nvml = sampler.load_nvml()
        self.index = index
        self.handle = self.nvml.nvmlDeviceGetHandleByIndex(index) if self.nvml else None

    def processes(self) -> list[tuple[int, int | None]]:
        """(pid, used bytes or None) of the compute processes."""
        return [(pid, used) for pid, _, used in sampler.compute_processes(self.nvml, self.index)[1]]

    def utilization(self) -> int | None:
        if self.nvml:
            return int(self.nvml.nvmlDeviceGetUtilizationRates(self.handle).gpu)
        query = ["--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", f"-i={self.index}"]
        rc, out, _ = sampler.run_smi(query)
        first = out.strip().splitlines()[:1] if rc == 0 else []
        return int(first[0]) if first and first[0].strip().isdigit() else None

    def samples(self, since_us: int) -> list[tuple[int, int, int]]:
        """(pid, timestamp_us, sm %) since then; none without NVML (nvidia-smi has no sub-second samples)."""
        if not self.nvml:
            return []
        return [(pid, ts, sm) for pid, ts, sm, _ in sampler.poll_samples(self.nvml, self.handle, since_us)]


def _write(path: str, data: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def tick(nvml: Nvml, busy: Busy, gpu_dir: str, host: str) -> set[str]:
    """One reading: the client files and the utilisation file brought up to date; the client paths written."""
    busy.add(nvml.samples(busy.last_ts))
    now = time.time()
    written = set()
    clients = os.path.join(gpu_dir, "clients")
    os.makedirs(clients, exist_ok=True)
    for pid, used in nvml.processes():
        path = os.path.join(clients, f"{PREFIX}{pid}.json")
        _write(path, {
            "pid": pid, "host": host, "container": container_of(_read(f"/proc/{pid}/cgroup") or ""),
            "cmdline": cmdline(pid), "busy_ns": busy.ns.get(pid, 0), "started": process_started(pid),
            "updated": now, "memory_bytes": used, "gpu": "real",
        })
        written.add(path)
    for stale in set(glob.glob(os.path.join(clients, f"{PREFIX}*.json"))) - written:
        with contextlib.suppress(OSError):
            os.unlink(stale)
    util = nvml.utilization()
    if util is not None:
        _write(os.path.join(gpu_dir, "utilization.json"), {"percent": util, "updated": now, "source": "nvml"})
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gpu-dir", required=True, help="the simulated GPU's state directory")
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--index", type=int, default=0)
    args = ap.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    nvml, busy, host = Nvml(args.index), Busy(), socket.gethostname()
    if nvml.nvml is None and nvml.utilization() is None:
        print("nvml_clients: neither NVML nor nvidia-smi answers: no real GPU to read", file=sys.stderr)
        return 1
    try:
        while not stop.is_set():
            try:
                tick(nvml, busy, args.gpu_dir, host)
            except Exception as exc:  # a driver hiccup: say so, keep the last files, try again
                print(f"nvml_clients: {exc}", file=sys.stderr, flush=True)
            stop.wait(args.interval)
    finally:
        for path in glob.glob(os.path.join(args.gpu_dir, "clients", f"{PREFIX}*.json")):
            with contextlib.suppress(OSError):
                os.unlink(path)
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(args.gpu_dir, "utilization.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
