#!/usr/bin/env python3
"""A tegrastats for discrete-GPU hosts: NVML (or ``nvidia-smi``) samples printed as tegrastats lines.

Hosts with an NVIDIA dGPU (an x86 server, a workstation, a Jetson Thor or R39 Orin leaning on NVML) have no
``tegrastats``. This prints one line per interval in the tegrastats line format, so
``jetson_hil.tegrastats.parse_line`` and every check and plot built on it read it unchanged::

    11-29-2026 23:10:01 RAM 5120/128000MB CPU [3%@1980,0%@1980] GR3D_FREQ 45%@[1980] gpu@34C VDD_GPU 118000mW/97000mW

``RAM`` from /proc/meminfo (MemTotal - MemAvailable), ``CPU`` per core from /proc/stat (clock from cpufreq
where the kernel has it), ``GR3D_FREQ <utilization.gpu>%@[<SM clock MHz>]``, ``gpu@<temperature>C`` and
``VDD_GPU <power now>mW/<mean power since start>mW``. A reading the GPU does not give is left out, never
printed as 0.

Like tegrastats: ``--interval MS``, ``--logfile F`` (append lines to F instead of stdout), ``--stop`` (ends the
sampler recorded in the pid file). Two one-shot modes for GPU-use evidence (``jetson_hil.gpu_use``):

* ``--processes``: the GPU's compute processes now, one a line, as
  ``nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader,nounits`` prints them
  (``pid, name, MiB``), plus ``, <cmdline>`` when /proc/<pid>/cmdline is readable;
* ``--process-samples SECONDS``: per-process utilisation samples collected over SECONDS, one a line,
  ``pid, timestamp_us, sm_percent, mem_percent`` (NVML ``nvmlDeviceGetProcessUtilization``; from
  ``nvidia-smi pmon -s u`` at 1 s steps otherwise). Ends with ``# period_us <driver sample period>`` when known.

Standalone: the standard library, plus ``pynvml`` (package ``nvidia-ml-py``) when importable; otherwise it runs
``nvidia-smi``. Never hangs: every ``nvidia-smi`` call has a time limit and a dead sampler ends the program
with status 1 and a message on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

PIDFILE = "/tmp/gpu_sampler.pid"
SMI_TIMEOUT_S = 20.0
QUERY = "utilization.gpu,clocks.sm,temperature.gpu,power.draw"


# ------------------------------------------------------------------------------------------- host readings
def read_meminfo(text: str) -> tuple[int, int] | None:
    """(used MB, total MB) from /proc/meminfo text: MemTotal - MemAvailable, as free(1) counts 'used'."""
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[name.strip()] = int(parts[0])
    total = values.get("MemTotal")
    avail = values.get("MemAvailable", values.get("MemFree"))
    if total is None or avail is None:
        return None
    return (total - avail) // 1024, total // 1024


def read_cpu_times(text: str) -> list[tuple[int, int]]:
    """Per-core (busy, total) jiffies from /proc/stat text, in core order (the aggregate 'cpu' line skipped)."""
    cores = []
    for line in text.splitlines():
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        fields = line.split()
        if not fields[0][3:].isdigit():
            continue
        nums = [int(v) for v in fields[1:] if v.isdigit()]
        idle = nums[3] + (nums[4] if len(nums) > 4 else 0)  # idle + iowait
        total = sum(nums[:8])  # guest time is already inside user/nice
        cores.append((total - idle, total))
    return cores


def cpu_loads(before: list[tuple[int, int]], after: list[tuple[int, int]]) -> list[int]:
    """Per-core load percent between two /proc/stat readings."""
    loads = []
    for (b0, t0), (b1, t1) in zip(before, after, strict=False):
        dt = t1 - t0
        loads.append(max(0, min(100, round(100 * (b1 - b0) / dt))) if dt > 0 else 0)
    return loads


def _cpu_freqs(count: int) -> list[int | None]:
    freqs: list[int | None] = []
    for i in range(count):
        try:
            with open(f"/sys/devices/system/cpu/cpu{i}/cpufreq/scaling_cur_freq", encoding="ascii") as fh:
                freqs.append(int(fh.read().strip()) // 1000)
        except (OSError, ValueError):
            freqs.append(None)
    return freqs


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


# --------------------------------------------------------------------------------------------- the line
def _int(value: float | None) -> int | None:
    return None if value is None else int(round(value))


def format_line(
    when: float,
    ram: tuple[int, int] | None,
    cpus: list[tuple[int, int | None]],
    util: float | None,
    sm_mhz: float | None,
    temp_c: float | None,
    power_mw: float | None,
    avg_mw: float | None,
) -> str:
    """One tegrastats-format line; readings that are None are left out.

    >>> format_line(0, (10, 20), [(5, 1000)], 45, 1980, 34, 120000, 100000).split(" ", 2)[2]
    'RAM 10/20MB CPU [5%@1000] GR3D_FREQ 45%@[1980] gpu@34C VDD_GPU 120000mW/100000mW'
    """
    parts = [time.strftime("%m-%d-%Y %H:%M:%S", time.localtime(when))]
    if ram is not None:
        parts.append(f"RAM {ram[0]}/{ram[1]}MB")
    if cpus:
        parts.append("CPU [" + ",".join(f"{load}%" + (f"@{f}" if f else "") for load, f in cpus) + "]")
    gr3d = "GR3D_FREQ " + (f"{_int(util)}%" if util is not None else "")
    if sm_mhz is not None:
        gr3d += f"@[{_int(sm_mhz)}]"
    if util is not None or sm_mhz is not None:
        parts.append(gr3d)
    if temp_c is not None:
        parts.append(f"gpu@{temp_c:g}C")
    if power_mw is not None:
        avg = power_mw if avg_mw is None else avg_mw
        parts.append(f"VDD_GPU {_int(power_mw)}mW/{_int(avg)}mW")
    return " ".join(parts)


def parse_smi_query(line: str) -> tuple[float | None, float | None, float | None, float | None] | None:
    """One ``nvidia-smi --query-gpu=utilization.gpu,clocks.sm,temperature.gpu,power.draw`` csv line (nounits)
    -> (util %, SM MHz, temperature C, power mW); '[N/A]' fields are None. None for a line that is not one."""
    fields = [f.strip() for f in line.split(",")]
    if len(fields) != 4:
        return None
    out: list[float | None] = []
    for f in fields:
        try:
            out.append(float(f))
        except ValueError:
            out.append(None)
    if all(v is None for v in out):
        return None
    util, sm, temp, watts = out
    return util, sm, temp, None if watts is None else watts * 1000.0


class HostReader:
    """RAM and per-core CPU load between consecutive calls (the first call measures from construction)."""

    def __init__(self) -> None:
        self.prev = read_cpu_times(_read("/proc/stat"))

    def read(self) -> tuple[tuple[int, int] | None, list[tuple[int, int | None]]]:
        now = read_cpu_times(_read("/proc/stat"))
        loads = cpu_loads(self.prev, now)
        self.prev = now
        freqs = _cpu_freqs(len(loads))
        return read_meminfo(_read("/proc/meminfo")), list(zip(loads, freqs, strict=False))


# --------------------------------------------------------------------------------------------- backends
def load_nvml():
    """pynvml, initialised, or None when it is not importable or finds no driver."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:
        return None
    return pynvml


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _maybe(fn, *args):
    try:
        return fn(*args)
    except Exception:
        return None


class Emitter:
    """Writes lines to stdout or appends them to the log file (flushed each line, like tegrastats)."""

    def __init__(self, logfile: str | None):
        self.fh = open(logfile, "a", encoding="utf-8", buffering=1) if logfile else sys.stdout  # noqa: SIM115

    def write(self, line: str) -> None:
        self.fh.write(line + "\n")
        self.fh.flush()


def sample_nvml(nvml, index: int, interval_s: float, emit: Emitter, count: int | None, stop: threading.Event) -> int:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    host = HostReader()
    energy = []
    n = 0
    powers: list[float] = []
    next_t = time.monotonic() + interval_s
    while not stop.is_set() and (count is None or n < count):
        if stop.wait(max(0.0, next_t - time.monotonic())):
            break
        next_t += interval_s
        rates = _maybe(nvml.nvmlDeviceGetUtilizationRates, handle)
        util = None if rates is None else float(rates.gpu)
        sm = _maybe(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM)
        temp = _maybe(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
        power = _maybe(nvml.nvmlDeviceGetPowerUsage, handle)
        mj = _maybe(nvml.nvmlDeviceGetTotalEnergyConsumption, handle)
        if mj is not None:
            energy.append((time.monotonic(), mj))
        if power is not None:
            powers.append(float(power))
        avg = None
        if len(energy) >= 2 and energy[-1][0] > energy[0][0]:
            avg = (energy[-1][1] - energy[0][1]) / (energy[-1][0] - energy[0][0])  # mJ/s = mW
        elif powers:
            avg = sum(powers) / len(powers)
        ram, cpus = host.read()
        emit.write(format_line(time.time(), ram, cpus, util, sm, temp, power, avg))
        n += 1
    return 0


def sample_smi(index: int, interval_ms: int, emit: Emitter, count: int | None, stop: threading.Event) -> int:
    cmd = ["nvidia-smi", f"--query-gpu={QUERY}", "--format=csv,noheader,nounits", f"-lms={interval_ms}", f"-i={index}"]
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as exc:
        sys.stderr.write(f"gpu_sampler: neither pynvml nor nvidia-smi works: {exc}\n")
        return 1
    host = HostReader()
    powers: list[float] = []
    n = 0
    watchdog_s = max(SMI_TIMEOUT_S, 5 * interval_ms / 1000.0)
    last = [time.monotonic()]

    def watch() -> None:
        while proc.poll() is None and not stop.wait(1.0):
            if time.monotonic() - last[0] > watchdog_s:
                sys.stderr.write(f"gpu_sampler: nvidia-smi printed nothing for {watchdog_s:g}s; ending it\n")
                proc.kill()
                return
        with contextlib.suppress(OSError):
            proc.terminate()

    threading.Thread(target=watch, daemon=True).start()
    assert proc.stdout is not None
    for line in proc.stdout:
        last[0] = time.monotonic()
        reading = parse_smi_query(line)
        if reading is None:
            continue
        util, sm, temp, power = reading
        if power is not None:
            powers.append(power)
        ram, cpus = host.read()
        avg = sum(powers) / len(powers) if powers else None
        emit.write(format_line(time.time(), ram, cpus, util, sm, temp, power, avg))
        n += 1
        if stop.is_set() or (count is not None and n >= count):
            break
    stop.set()
    with contextlib.suppress(OSError):
        proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
    if n == 0:
        err = (proc.stderr.read() if proc.stderr else "").strip()
        sys.stderr.write(f"gpu_sampler: nvidia-smi gave no samples (status {proc.returncode}): {err[-500:]}\n")
        return 1
    return 0


# ------------------------------------------------------------------------------------------- processes
def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            parts = [p.decode(errors="replace") for p in fh.read().split(b"\0") if p]
    except OSError:
        return ""
    return " ".join(parts).replace("\n", " ")


def run_smi(args: list[str], timeout: float = SMI_TIMEOUT_S) -> tuple[int, str, str]:
    try:
        proc = subprocess.run(["nvidia-smi", *args], capture_output=True, text=True, timeout=timeout)
    except OSError as exc:
        return 127, "", str(exc)
    except subprocess.TimeoutExpired:
        return 124, "", f"nvidia-smi {' '.join(args)} did not answer within {timeout:g}s"
    return proc.returncode, proc.stdout, proc.stderr


def compute_processes(nvml, index: int) -> tuple[int, list[tuple[int, str, int | None]]]:
    """Status and the compute processes as (pid, name, used bytes or None): NVML, else nvidia-smi."""
    rows: list[tuple[int, str, int | None]] = []
    if nvml is not None:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        for p in nvml.nvmlDeviceGetComputeRunningProcesses(handle):
            used = getattr(p, "usedGpuMemory", None)
            name = _maybe(nvml.nvmlSystemGetProcessName, p.pid)
            rows.append((int(p.pid), _text(name) if name is not None else "[N/A]", None if used is None else int(used)))
        return 0, rows
    rc, out, err = run_smi(
        ["--query-compute-apps=pid,process_name,used_memory", "--format=csv,noheader,nounits", f"-i={index}"]
    )
    if rc != 0:
        sys.stderr.write(f"gpu_sampler: nvidia-smi failed (status {rc}): {err.strip()[-500:]}\n")
        return 1, []
    for line in out.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) >= 3 and fields[0].isdigit():
            mib = fields[-1]
            rows.append((int(fields[0]), ", ".join(fields[1:-1]), int(mib) * 2**20 if mib.isdigit() else None))
    return 0, rows


def process_lines(nvml, index: int) -> tuple[int, list[str]]:
    """The compute processes as ``pid, name, used MiB[, cmdline]`` lines."""
    rc, rows = compute_processes(nvml, index)
    lines = []
    for pid, name, used in rows:
        mib = "[N/A]" if used is None else str(used // (1024 * 1024))
        cmd = _cmdline(pid)
        lines.append(f"{pid}, {name}, {mib}" + (f", {cmd}" if cmd else ""))
    return rc, lines


def poll_samples(nvml, handle, since_us: int) -> list[tuple[int, int, int, int]]:
    """NVML's per-process samples newer than ``since_us``: (pid, timestamp_us, sm %, mem %); none is not an
    error (NVML says "Not Found"), any other NVML error is raised."""
    try:
        samples = nvml.nvmlDeviceGetProcessUtilization(handle, since_us)
    except nvml.NVMLError as exc:
        if "not found" not in str(exc).lower():
            raise
        return []
    return [(int(s.pid), int(s.timeStamp), int(s.smUtil), int(s.memUtil)) for s in samples]


def process_samples_nvml(nvml, index: int, seconds: float, poll_s: float = 0.5) -> tuple[int, list[str]]:
    """NVML per-process samples over ``seconds``, deduplicated; the driver keeps a short ring of them, so it is
    read every ``poll_s`` with the last timestamp seen."""
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    seen: dict[tuple[int, int], tuple[int, int]] = {}
    # Samples newer than now only: with 0 the driver returns its whole ring, reaching back before the window.
    last_ts = int(time.time() * 1e6)
    end = time.monotonic() + seconds
    while True:
        try:
            samples = poll_samples(nvml, handle, last_ts)
        except nvml.NVMLError as exc:
            return 1, [f"# error nvmlDeviceGetProcessUtilization: {exc}"]
        for pid, ts, sm, mem in samples:
            seen[(pid, ts)] = (sm, mem)
            last_ts = max(last_ts, ts)
        if time.monotonic() >= end:
            break
        time.sleep(min(poll_s, max(0.0, end - time.monotonic())))
    lines = [f"{pid}, {ts}, {sm}, {mem}" for (pid, ts), (sm, mem) in sorted(seen.items(), key=lambda kv: kv[0][1])]
    stamps = sorted({ts for _, ts in seen})
    if len(stamps) >= 2:
        gaps = sorted(b - a for a, b in zip(stamps, stamps[1:], strict=False))
        lines.append(f"# period_us {gaps[len(gaps) // 2]}")
    return 0, lines


def parse_pmon(text: str, start_us: int) -> list[tuple[int, int, int, int]]:
    """``nvidia-smi pmon -s u`` output -> (pid, timestamp_us, sm %, mem %); the sample index counts seconds
    (a new block starts where a pid repeats or a header line comes)."""
    rows = []
    index = -1
    in_block: set[int] = set()
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 5 or not fields[1].isdigit():
            if len(fields) >= 2 and fields[1] == "-":
                index += 1
                in_block = set()
            continue
        pid = int(fields[1])
        if pid in in_block or index < 0:
            index += 1
            in_block = set()
        in_block.add(pid)
        sm = int(fields[3]) if fields[3].isdigit() else 0
        mem = int(fields[4]) if fields[4].isdigit() else 0
        rows.append((pid, start_us + index * 1_000_000, sm, mem))
    return rows


def process_samples_smi(index: int, seconds: float) -> tuple[int, list[str]]:
    count = max(1, int(round(seconds)))
    start_us = int(time.time() * 1e6)
    rc, out, err = run_smi(["pmon", "-s", "u", "-d", "1", "-c", str(count), "-i", str(index)], timeout=count + 15)
    if rc != 0:
        sys.stderr.write(f"gpu_sampler: nvidia-smi pmon failed (status {rc}): {err.strip()[-500:]}\n")
        return 1, []
    lines = [f"{pid}, {ts}, {sm}, {mem}" for pid, ts, sm, mem in parse_pmon(out, start_us)]
    lines.append("# period_us 1000000")
    return 0, lines


# ------------------------------------------------------------------------------------------------ main
def _stop(pidfile: str) -> int:
    try:
        with open(pidfile, encoding="ascii") as fh:
            pid = int(fh.read().strip())
    except (OSError, ValueError):
        sys.stderr.write(f"gpu_sampler: no sampler running ({pidfile} absent)\n")
        return 1
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        sys.stderr.write(f"gpu_sampler: cannot stop pid {pid}: {exc}\n")
        return 1
    for _ in range(50):
        if not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.1)
    with contextlib.suppress(OSError):
        os.unlink(pidfile)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=int, default=1000, metavar="MS", help="sample interval (default 1000)")
    parser.add_argument("--logfile", metavar="F", help="append lines to F instead of stdout")
    parser.add_argument("--stop", action="store_true", help="end the running sampler (see --pidfile)")
    parser.add_argument("--pidfile", default=PIDFILE, help=f"pid file (default {PIDFILE})")
    parser.add_argument("--gpu", type=int, default=0, help="GPU index (default 0)")
    parser.add_argument("--count", type=int, help="stop after this many lines")
    parser.add_argument("--backend", choices=("auto", "nvml", "nvidia-smi"), default="auto")
    parser.add_argument("--processes", action="store_true", help="print the GPU's compute processes and exit")
    parser.add_argument("--process-samples", type=float, metavar="SECONDS", help="per-process utilisation samples")
    args = parser.parse_args(argv)

    if args.stop:
        return _stop(args.pidfile)
    if args.interval < 1:
        parser.error("--interval must be >= 1")
    nvml = None if args.backend == "nvidia-smi" else load_nvml()
    if args.backend == "nvml" and nvml is None:
        sys.stderr.write("gpu_sampler: pynvml (nvidia-ml-py) is not importable or NVML found no driver\n")
        return 1

    if args.processes or args.process_samples is not None:
        try:
            if args.processes:
                rc, lines = process_lines(nvml, args.gpu)
            elif nvml is not None:
                rc, lines = process_samples_nvml(nvml, args.gpu, max(0.0, args.process_samples))
            else:
                rc, lines = process_samples_smi(args.gpu, args.process_samples)
        except Exception as exc:  # an NVML error names what failed; the caller gets a status, not a traceback
            sys.stderr.write(f"gpu_sampler: {type(exc).__name__}: {exc}\n")
            return 1
        for line in lines:
            print(line)
        return rc

    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with contextlib.suppress(OSError), open(args.pidfile, "w", encoding="ascii") as fh:
        fh.write(f"{os.getpid()}\n")
    try:
        emit = Emitter(args.logfile)
        if nvml is not None:
            return sample_nvml(nvml, args.gpu, args.interval / 1000.0, emit, args.count, stop)
        return sample_smi(args.gpu, args.interval, emit, args.count, stop)
    except BrokenPipeError:
        return 0
    finally:
        with contextlib.suppress(OSError):
            with open(args.pidfile, encoding="ascii") as fh:
                mine = fh.read().strip() == str(os.getpid())
            if mine:
                os.unlink(args.pidfile)


if __name__ == "__main__":
    sys.exit(main())
