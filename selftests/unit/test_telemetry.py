"""Telemetry recorder: a fake tegrastats on PATH stands in for the device, run through a local run_command.

The fake honours --interval, --logfile and --stop and appends real-format lines (Orin Nano Super, JetPack 6.2,
from /work/shared/facts/jetson-facts.md section 1.1, "vivh3/edge-inference-pipeline tests/test_tegrastats.py").
It is only a unit-test stand-in for the device's tegrastats; the simulator has the real emulator.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jetson_hil.telemetry import Sample, TelemetryRecorder, TelemetryTimeout

# Orin Nano Super 8 GB, JetPack 6.2 / R36.4.3, idle then busy (facts 1.1); the fake rewrites the date prefix.
IDLE = (
    "10-08-2026 04:38:21 RAM 1343/7620MB (lfb 157x4MB) SWAP 165/3810MB (cached 3MB) CPU [0%@1497,0%@729,0%@729,"
    "0%@729,0%@729,0%@729] EMC_FREQ 15%@204 GR3D_FREQ 0%@[305] NVDEC off NVJPG off VIC off OFA off APE 200 "
    "cpu@48.562C soc2@46.593C soc0@48.625C gpu@49.625C tj@49.312C soc1@47.937C VDD_IN 5251mW/8535mW "
    "VDD_CPU_GPU_CV 512mW/1944mW VDD_SOC 2720mW/3659mW"
)
BUSY = (
    "10-08-2026 04:35:02 RAM 6712/7620MB (lfb 12x4MB) SWAP 369/3810MB (cached 8MB) CPU [38%@1497,2%@729,1%@729,"
    "0%@729,1%@729,0%@729] EMC_FREQ 61%@2133 GR3D_FREQ 99%@[612] NVDEC off NVJPG off VIC off OFA off APE 200 "
    "cpu@57.125C soc2@55.093C soc0@56.625C gpu@58.625C tj@58.312C soc1@55.937C VDD_IN 16321mW/11204mW "
    "VDD_CPU_GPU_CV 7104mW/4944mW VDD_SOC 3120mW/3659mW"
)

FAKE_TEGRASTATS = f"""#!{sys.executable}
import os, signal, sys, time
LINES = [{IDLE!r}, {BUSY!r}]
here = os.path.dirname(os.path.abspath(__file__))
pids = os.path.join(here, "tegrastats.pids")
args = sys.argv[1:]
if "--stop" in args:
    for pid in open(pids).read().split() if os.path.exists(pids) else []:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
    sys.exit(0)
if os.environ.get("FAKE_TEGRASTATS_NEEDS_ROOT") and not os.environ.get("FAKE_ROOT"):
    print("tegrastats: error: must be run as root", file=sys.stderr)
    sys.exit(1)
if os.environ.get("FAKE_TEGRASTATS_IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
interval = int(args[args.index("--interval") + 1]) if "--interval" in args else 1000
out = open(args[args.index("--logfile") + 1], "a") if "--logfile" in args else sys.stdout
with open(pids, "a") as f:
    f.write(f"{{os.getpid()}}\\n")
garbage = bool(os.environ.get("FAKE_TEGRASTATS_GARBAGE"))
n = 0
while True:
    line = time.strftime("%m-%d-%Y %H:%M:%S ") + LINES[n % 2].split(" ", 2)[2]
    if garbage and n % 2:
        out.write("%%% this is not tegrastats %%%\\n")
    # written in two pieces so the reader sees partial lines
    half = len(line) // 2
    out.write(line[:half]); out.flush()
    out.write(line[half:] + "\\n"); out.flush()
    n += 1
    time.sleep(interval / 1000)
"""

FAKE_SUDO = """#!/bin/sh
if [ -n "$FAKE_SUDO_DENY" ]; then echo "sudo: a password is required" >&2; exit 1; fi
[ "$1" = "-n" ] && shift
FAKE_ROOT=1 exec "$@"
"""


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    for name, text in (("tegrastats", FAKE_TEGRASTATS), ("sudo", FAKE_SUDO)):
        (d / name).write_text(text)
        (d / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{d}:{os.environ['PATH']}")
    return d


def local_run(cmd: str, timeout: float) -> tuple[int, str, str]:
    """The unit-test transport: a local shell (the suite passes a testinfra host wrapper instead)."""
    p = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def as_user(cmd: str, timeout: float) -> tuple[int, str, str]:
    """local_run, but the host user is not root (so sudo is considered)."""
    return (0, "1000\n", "") if cmd == "id -u" else local_run(cmd, timeout)


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def recorder(tmp_path: Path, run=local_run, **kwargs) -> TelemetryRecorder:
    kwargs.setdefault("interval_ms", 100)
    kwargs.setdefault("logfile", str(tmp_path / "tegrastats.log"))
    return TelemetryRecorder(run, poll_interval_s=0.1, **kwargs)


def test_records_real_format_samples(bin_dir: Path, tmp_path: Path) -> None:
    rec = recorder(tmp_path).start()
    try:
        assert rec.error is None and rec.pid is not None and alive(rec.pid)
        got = rec.wait_samples(6, timeout=30)
        assert len(got) >= 6
        assert all(isinstance(s, Sample) for s in got)
        assert {s.sample.gpu_load_percent for s in got} == {0, 99}
        busy = next(s.sample for s in got if s.sample.gpu_load_percent == 99)
        assert busy.rails["VDD_IN"].current_mw == 16321 and busy.temperatures["gpu"] == 58.625
        assert busy.ram_used_mb == 6712 and busy.timestamp is not None
        monos = [s.received_mono for s in got]
        assert monos == sorted(monos)
        assert all(abs(s.received - time.time()) < 10 for s in got)
        assert rec.bad_count == 0
        mark = time.monotonic()
        later = rec.wait_samples(2, timeout=30, since=mark)
        assert all(s.received_mono >= mark for s in later)
        assert len(rec.samples(last_s=60)) >= len(got)
    finally:
        pid = rec.pid
        rec.stop()
    assert pid is not None and not alive(pid)
    assert not Path(rec.logfile).exists() and not Path(rec.errfile).exists()
    assert rec.stats()["samples"] >= 8 and rec.stats()["error"] is None
    rec.stop()


def test_stop_reads_the_last_lines(bin_dir: Path, tmp_path: Path) -> None:
    rec = recorder(tmp_path, interval_ms=50)
    rec.poll_interval_s = 3600  # only the final poll in stop() reads the log
    rec.start()
    deadline = time.monotonic() + 60  # a hang guard: three lines take 150 ms
    while _complete_lines(rec.logfile) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rec.samples() == []
    rec.stop()
    assert len(rec.samples()) >= 3


def _complete_lines(path: str) -> int:
    try:
        return Path(path).read_text().count("\n")
    except OSError:
        return 0


def test_default_logfile_names_the_run(bin_dir: Path) -> None:
    rec = TelemetryRecorder(local_run, run_id="run42")
    assert rec.logfile == "/tmp/jetson-hil-tegrastats-run42.log"
    assert rec.command == "tegrastats --interval 1000 --logfile /tmp/jetson-hil-tegrastats-run42.log"


def test_missing_tegrastats_is_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    rec = recorder(tmp_path).start()
    assert rec.error == "tegrastats not found on the device"
    start = time.monotonic()
    with pytest.raises(TelemetryTimeout, match="saw 0; tegrastats not found on the device"):
        rec.wait_samples(1, timeout=60)
    assert time.monotonic() - start < 30, "the reason ends the wait at once, not at its 60 s timeout"
    rec.stop()


def test_bad_lines_are_counted_and_kept(bin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_TEGRASTATS_GARBAGE", "1")
    with recorder(tmp_path) as rec:
        rec.wait_samples(6, timeout=30)
        assert rec.bad_count >= 2 and rec.error is None
        assert rec.bad_lines[0].startswith("%%% this is not tegrastats %%%")
        assert rec.stats()["bad_lines"] == rec.bad_count


def test_sudo_is_used_when_not_root(bin_dir: Path, tmp_path: Path) -> None:
    with recorder(tmp_path, run=as_user) as rec:
        assert rec.used_sudo and rec.notes == []
        rec.wait_samples(2, timeout=30)


def test_refused_sudo_falls_back_and_is_noted(bin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SUDO_DENY", "1")
    with recorder(tmp_path, run=as_user) as rec:
        assert not rec.used_sudo
        assert rec.notes == ["sudo -n failed (sudo: a password is required); running tegrastats without root"]
        rec.wait_samples(2, timeout=30)


def test_needs_root_and_sudo_refused_is_the_reason(
    bin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_SUDO_DENY", "1")
    monkeypatch.setenv("FAKE_TEGRASTATS_NEEDS_ROOT", "1")
    with recorder(tmp_path, run=as_user) as rec:
        with pytest.raises(TelemetryTimeout) as info:
            rec.wait_samples(1, timeout=30)
        assert rec.error == (
            "tegrastats exited without writing its log on the device: tegrastats: error: must be run as root; "
            "it may need root and sudo -n failed (sudo: a password is required)"
        )
        assert rec.error in str(info.value)


def test_needs_root_works_with_sudo(bin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_TEGRASTATS_NEEDS_ROOT", "1")
    with recorder(tmp_path, run=as_user) as rec:
        assert len(rec.wait_samples(2, timeout=30)) >= 2


def test_stop_falls_back_to_tegrastats_stop(bin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_TEGRASTATS_IGNORE_TERM", "1")
    rec = recorder(tmp_path).start()
    rec.wait_samples(1, timeout=30)
    pid = rec.pid
    assert pid is not None
    rec.stop()
    assert not alive(pid) and rec.notes == []


def test_sampler_dying_mid_run_is_reported(bin_dir: Path, tmp_path: Path) -> None:
    rec = recorder(tmp_path).start()
    try:
        rec.wait_samples(2, timeout=30)
        assert rec.pid is not None
        os.kill(rec.pid, 9)
        deadline = time.monotonic() + 30  # a hang guard: the next poll (0.1 s) sees it
        while rec.error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rec.error is not None and rec.error.startswith("tegrastats stopped while recording on the device")
        with pytest.raises(TelemetryTimeout, match="stopped while recording"):
            rec.wait_samples(10_000, timeout=5)
    finally:
        rec.stop()


def test_transport_failure_never_crashes(tmp_path: Path) -> None:
    def broken(cmd: str, timeout: float) -> tuple[int, str, str]:
        raise ConnectionError("ssh: connect to host orin port 22: Connection refused")

    rec = recorder(tmp_path, run=broken).start()
    assert rec.error == (
        "could not start tegrastats on the device: ssh: connect to host orin port 22: Connection refused"
    )
    rec.stop()
    with pytest.raises(TelemetryTimeout, match="Connection refused"):
        rec.wait_samples(1, timeout=1)


def test_wait_before_start_and_after_stop(bin_dir: Path, tmp_path: Path) -> None:
    rec = recorder(tmp_path)
    with pytest.raises(TelemetryTimeout, match="not started"):
        rec.wait_samples(1, timeout=5)
    rec.start()
    rec.wait_samples(1, timeout=30)
    rec.stop()
    start = time.monotonic()
    with pytest.raises(TelemetryTimeout, match="stopped"):
        rec.wait_samples(10_000, timeout=60)
    assert time.monotonic() - start < 30, "a stopped recorder answers at once, not at its 60 s timeout"


def test_wait_timeout_names_count_and_timeout(bin_dir: Path, tmp_path: Path) -> None:
    with recorder(tmp_path, interval_ms=10_000) as rec:
        rec.wait_samples(1, timeout=30)
        with pytest.raises(TelemetryTimeout, match=r"^timed out after 0.3 s waiting for 5 tegrastats samples: saw 1"):
            rec.wait_samples(5, timeout=0.3)


def test_other_sampler_command_and_parser(tmp_path: Path, bin_dir: Path) -> None:
    """A dGPU host: any command writing one line per interval to {logfile}, with its own parser."""
    script = bin_dir / "gpu-sampler"
    script.write_text('#!/bin/sh\nwhile true; do echo "42, 17"; sleep "$1"; done >> "$2"\n')
    script.chmod(0o755)

    def parse(line: str) -> dict[str, int]:
        util, mem = (int(x) for x in line.split(","))
        return {"gpu_load_percent": util, "mem": mem}

    rec = recorder(tmp_path, command="gpu-sampler 0.1 {logfile}", stop_command=None, parse=parse, interval_ms=100)
    with rec:
        got = rec.wait_samples(2, timeout=30)
        assert got[0].sample == {"gpu_load_percent": 42, "mem": 17}


FAKE_NVIDIA_SMI = """#!/bin/sh
# Stand-in for `nvidia-smi --query-gpu=utilization.gpu,clocks.sm,temperature.gpu,power.draw
# --format=csv,noheader,nounits -lms=N -i=0`, with the values of an H200 line
# (fixtures/data/real/h200/gpu_use_run2.txt).
ms=1000
for a in "$@"; do case "$a" in -lms=*) ms=${a#-lms=};; --query-gpu=name) echo "NVIDIA H200"; exit 0;; esac; done
while true; do echo "99, 1530, 54, 558.581"; sleep $(awk "BEGIN{print $ms/1000}"); done
"""


def _dgpu_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in nvidia-smi and python3 first on PATH, and NVML not importable."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text(FAKE_NVIDIA_SMI)
    (bin_dir / "nvidia-smi").chmod(0o755)
    (bin_dir / "python3").symlink_to(sys.executable)
    (bin_dir / "pynvml.py").write_text("raise ImportError('no NVML in this test')\n")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("PYTHONPATH", str(bin_dir))


def test_dgpu_kind_runs_gpu_sampler_as_tegrastats_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kind='dgpu': gpu_sampler.py is copied beside the log, run with python3 (nvidia-smi here, no NVML), its
    lines parse as tegrastats lines, and stop ends it and removes the copy."""
    _dgpu_host(tmp_path, monkeypatch)
    rec = recorder(tmp_path, kind="dgpu", logfile=str(tmp_path / "gpu.log"), sudo=True)
    assert rec.sampler_path == str(tmp_path / "gpu.py") and rec.name == "gpu_sampler.py" and not rec.sudo
    assert rec.command.startswith(f"python3 {tmp_path}/gpu.py --interval 100 --logfile {tmp_path}/gpu.log")
    with rec:
        got = rec.wait_samples(2, timeout=20)
        assert Path(rec.sampler_path).exists()
        pid = rec.pid
    sample = got[0].sample
    assert (sample.gpu_load_percent, sample.gpu_freq_mhz, sample.gpu_temperature) == (99, 1530, 54.0)
    assert sample.rails["VDD_GPU"].current_mw == 558581 and rec.bad_count == 0
    assert not alive(pid) and not Path(rec.sampler_path).exists() and not (tmp_path / "gpu.log").exists()


def test_dgpu_kind_without_nvidia_smi_or_nvml_is_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    (bin_dir / "pynvml.py").write_text("raise ImportError('no NVML in this test')\n")
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("PYTHONPATH", str(bin_dir))
    rec = recorder(tmp_path, kind="dgpu", logfile=str(tmp_path / "gpu.log"))
    with rec, pytest.raises(TelemetryTimeout, match=r"gpu_sampler.py .*neither pynvml nor nvidia-smi works"):
        rec.wait_samples(1, timeout=20)
    assert not Path(rec.sampler_path).exists()


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind must be one of jetson, dgpu"):
        TelemetryRecorder(local_run, kind="thor")


@pytest.mark.skipif(Path("/etc/nv_tegra_release").exists() or shutil.which("tegrastats") is not None,
                    reason="a Jetson here: the switch is for hosts without tegrastats")  # fmt: skip
def test_jetson_kind_on_a_dgpu_host_switches_to_gpu_sampler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A jetson profile on a host with no tegrastats that detects as a dGPU records with gpu_sampler.py, as the
    Task 1 checks switch to the dGPU ones there (jetson_hil.dgpu.host_kind)."""
    _dgpu_host(tmp_path, monkeypatch)
    rec = recorder(tmp_path, logfile=str(tmp_path / "t.log"))
    assert rec.binary == "tegrastats"
    with rec:
        got = rec.wait_samples(2, timeout=20)
        assert rec.name == "gpu_sampler.py" and rec.command.startswith("python3 ")
    assert got[0].sample.gpu_load_percent == 99
    assert "no tegrastats on the device, and no /etc/nv_tegra_release and nvidia-smi answers" in rec.notes[0]
    assert not Path(rec.sampler_path).exists()
