"""The suite's footprint on the device (issue 19): what one acceptance run costs the device it measures.

A suite that slows a 4 GB Jetson down measures itself. Against a simulator (its device host and services are
containers on this machine's engine), this script runs the healthy suite once per repeat and, around it,
unobserved stretches of the same length, and compares:

- **CPU and peak memory of every process the suite starts on the device**: the processes that appear in the
  device's containers during a stretch (tegrastats, shells, copies, the probe: each exec'd command and runc),
  read from /proc every POLL_S; their CPU is exact for the stretch: what the containers' reapers (the
  containerd shim, a container's init) collected from exited ones plus what the live ones used, so a shell
  shorter than the poll is counted too (its peak memory is not). The broker's extra work for the suite's
  subscriber has no process of its own: its container's cgroup CPU, observed minus unobserved. The probe
  (``check_torch_cuda.py``, the runbook's own Task 2 test and the GPU's only work from the suite) is reported
  apart. The engine (dockerd, containerd: it runs the execs and copies) is printed apart too: on a machine
  whose engine also serves other simulators it is indicative only.
- **The agents' embedding rate and p50 latency** from their own payloads (``ts``: the device's timestamp, so
  the rate is the device's; ``infer_ms``: the agent's own inference time; and receive minus ``ts`` at this
  script's one subscriber, which listens in every stretch alike), observed vs unobserved; the run-to-run
  noise is the spread between the unobserved stretches, measured the same way.

Goals: the suite's device CPU <= 2 % of one core averaged over its run (probe apart); the agents' rate and
p50 latency observed within the noise of unobserved stretches.

Run as root: ``.venv/bin/python bench/footprint.py --sim h19-fp [--repeats 1] [--ssh] [--json PATH]``.
A simulator that is not up is started with ``--encoder`` (default: the simulator's) and purged at the end
(``--keep`` keeps it); one already up is used as it is and left up.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from jetson_hil import suite_run
from jetson_hil.sim import simulator

REPO = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 900.0  # a hang guard per suite run, sized for a loaded 2-core machine
POLL_S = 0.2
STATUS_WAIT_S = 120.0
CPU_GOAL_PERCENT = 2.0
TICK = os.sysconf("SC_CLK_TCK")
SERVICES = ("vl_jepa", "embedding_guard", "scene", "policy", "mosquitto")
ENGINE = ("dockerd", "containerd")
PROBE = "check_torch_cuda"


# ------------------------------------------------------------------------------------------------ /proc


def proc_cpu(pid: int) -> tuple[float, float] | None:
    """(own CPU seconds, reaped children's CPU seconds) of a process, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime) / TICK, (cutime + cstime) / TICK


def proc_text(pid: int, name: str) -> str:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def peak_rss_mb(pid: int) -> float:
    for line in proc_text(pid, "status").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def engine_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and proc_text(int(entry.name), "comm") in ENGINE:
            pids.append(int(entry.name))
    return pids


# ------------------------------------------------------------------------------------------- containers


@dataclass
class Container:
    """One of the device's containers: its init, the containerd shim that reaps its exec'd processes, its
    cgroup (cgroup v1 cpuacct, or v2)."""

    label: str
    name: str
    init: int
    shim: int
    cgroup: Path

    @classmethod
    def find(cls, label: str, name: str) -> Container:
        out = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", name], capture_output=True, text=True,
                             timeout=30)
        if out.returncode != 0 or not out.stdout.strip().isdigit() or out.stdout.strip() == "0":
            raise SystemExit(f"container {name} is not running: {out.stderr.strip() or out.stdout.strip()}")
        init = int(out.stdout.strip())
        shim = int(Path(f"/proc/{init}/stat").read_text().rsplit(")", 1)[1].split()[1])
        lines = dict(line.split(":", 2)[1:] for line in Path(f"/proc/{init}/cgroup").read_text().splitlines())
        v1 = Path("/sys/fs/cgroup/cpuacct") / lines.get("cpuacct", lines.get("cpu,cpuacct", "")).lstrip("/")
        cgroup = v1 if (v1 / "cpuacct.usage").exists() else Path("/sys/fs/cgroup") / lines.get("", "").lstrip("/")
        return cls(label, name, init, shim, cgroup)

    def usage_s(self) -> float:
        v1 = self.cgroup / "cpuacct.usage"
        if v1.exists():
            return int(v1.read_text()) / 1e9
        for line in (self.cgroup / "cpu.stat").read_text().splitlines():
            if line.startswith("usage_usec"):
                return int(line.split()[1]) / 1e6
        return 0.0

    def pids(self) -> set[int]:
        try:
            return {int(p) for p in (self.cgroup / "cgroup.procs").read_text().split()}
        except OSError:
            return set()


@dataclass
class Seen:
    """A process that appeared during a stretch."""

    container: str
    comm: str
    cmd: str
    cpu_s: float = 0.0
    peak_mb: float = 0.0
    alive: bool = True
    first: float = 0.0  # wall-clock time it was first and last seen
    last: float = 0.0


@dataclass
class Stretch:
    """One stretch of time on the device: observed (a suite run) or not."""

    kind: str
    seconds: float = 0.0
    cgroup_cpu_s: dict[str, float] = field(default_factory=dict)
    started_cpu_s: dict[str, float] = field(default_factory=dict)  # what the suite's processes used, per container
    engine_cpu_s: float = 0.0
    processes: dict[int, Seen] = field(default_factory=dict)
    payloads: list[dict] = field(default_factory=list)
    suite: dict = field(default_factory=dict)
    runner_cpu_s: float = 0.0  # the suite's own process on this machine (not the device's, unless it is one)

    def probe(self) -> list[Seen]:
        return [p for p in self.processes.values() if PROBE in p.cmd]

    def without_probe(self) -> list[dict]:
        """The payloads stamped while the probe was not running (a second of margin either side)."""
        spans = [(p.first - 1.0, p.last + 1.0) for p in self.probe()]
        return [r for r in self.payloads if not any(a <= r["ts"] <= b for a, b in spans)]

    def suite_cpu_s(self) -> float:
        """CPU of the processes the stretch started, probe apart."""
        return sum(self.started_cpu_s.values()) - sum(p.cpu_s for p in self.probe())


class Recorder:
    """Watches the device's containers over one stretch: start(), then stop() returns the figures."""

    def __init__(self, containers: list[Container]):
        self.containers = containers
        self._stop = threading.Event()

    @staticmethod
    def _reapers(c: Container, pids: set[int]) -> dict[int, float]:
        """CPU of the children reaped so far by the container's shim (its own relaying too) and its processes."""
        out = {}
        for pid in (c.shim, *pids):
            got = proc_cpu(pid)
            if got is not None:
                out[pid] = got[1] + (got[0] if pid == c.shim else 0.0)
        return out

    def start(self, kind: str) -> Stretch:
        self.stretch = Stretch(kind)
        self._t0 = time.monotonic()
        self._base = {c.label: c.pids() for c in self.containers}
        self._reaped0 = {c.label: self._reapers(c, self._base[c.label]) for c in self.containers}
        self._usage0 = {c.label: c.usage_s() for c in self.containers}
        self._engine = engine_pids()
        self._engine0 = sum((proc_cpu(p) or (0.0, 0.0))[0] for p in self._engine)
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self.stretch

    def _poll_once(self) -> None:
        for c in self.containers:
            for pid in c.pids() - self._base[c.label]:
                got = proc_cpu(pid)
                if got is None:
                    continue
                seen = self.stretch.processes.get(pid)
                if seen is None:
                    seen = self.stretch.processes[pid] = Seen(c.label, proc_text(pid, "comm"),
                                                              proc_text(pid, "cmdline")[:160], first=time.time())
                seen.last = time.time()
                seen.cpu_s = max(seen.cpu_s, got[0] + got[1])
                seen.peak_mb = max(seen.peak_mb, peak_rss_mb(pid))

    def _poll(self) -> None:
        while not self._stop.wait(POLL_S):
            self._poll_once()

    def stop(self) -> Stretch:
        self._poll_once()
        self._stop.set()
        self._thread.join(timeout=10)
        s = self.stretch
        s.seconds = time.monotonic() - self._t0
        for c in self.containers:
            now, before = self._reapers(c, self._base[c.label]), self._reaped0[c.label]
            reaped = sum(v - before[pid] for pid, v in now.items() if pid in before)  # alive at both ends
            alive = c.pids()
            live_new = [pid for pid, p in s.processes.items() if p.container == c.label and pid in alive]
            live_cpu = sum(sum(proc_cpu(pid) or (0.0, 0.0)) for pid in live_new)
            s.started_cpu_s[c.label] = reaped + live_cpu
            s.cgroup_cpu_s[c.label] = c.usage_s() - self._usage0[c.label]
        for pid, p in s.processes.items():
            p.alive = proc_cpu(pid) is not None
        s.engine_cpu_s = sum((proc_cpu(p) or (0.0, 0.0))[0] for p in self._engine) - self._engine0
        return s


# ------------------------------------------------------------------------------------------ the payloads


class Payloads:
    """This script's one subscriber to the embeddings topic, listening in every stretch alike."""

    def __init__(self, port: int, topic: str = "vision/embeddings"):
        import paho.mqtt.client as mqtt

        self.rows: list[dict] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"footprint-{os.getpid()}")
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(topic)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg) -> None:
        now = time.time()
        try:
            p = json.loads(msg.payload)
            self.rows.append({"received": now, "ts": float(p["ts"]), "infer_ms": float(p.get("infer_ms", "nan"))})
        except (ValueError, KeyError, TypeError):
            pass

    def between(self, t0: float, t1: float) -> list[dict]:
        return [r for r in self.rows if t0 <= r["ts"] < t1]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def agent_figures(rows: list[dict]) -> dict:
    """Rate from the device's own timestamps, p50 inference time, p50 receive-minus-ts latency."""
    if len(rows) < 3:
        return {"count": len(rows)}
    ts = sorted(r["ts"] for r in rows)
    return {
        "count": len(rows),
        "rate_hz": (len(ts) - 1) / (ts[-1] - ts[0]),
        "p50_infer_ms": statistics.median(r["infer_ms"] for r in rows),
        "p50_latency_ms": statistics.median((r["received"] - r["ts"]) * 1000 for r in rows),
    }


# ------------------------------------------------------------------------------------------------ a run


def ensure_sim(args: argparse.Namespace) -> tuple[dict, bool]:
    state = simulator.status(args.sim)
    if state.get("state") == "up":
        return state, False
    cmd = [str(REPO / ".venv" / "bin" / "jetson-hil"), "sim", "up", "--name", args.sim]
    if args.encoder:
        cmd += ["--encoder", args.encoder]
    print("starting:", " ".join(cmd[1:]), flush=True)
    if subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL).returncode != 0:
        raise SystemExit(f"`jetson-hil sim up --name {args.sim}` failed (its message is above)")
    deadline = time.monotonic() + STATUS_WAIT_S  # a loaded engine can miss a status ping right after `up`
    while (state := simulator.status(args.sim)).get("state") != "up" and time.monotonic() < deadline:
        time.sleep(1.0)
    if state.get("state") != "up":
        raise SystemExit(f"simulator {args.sim!r} did not come up: {state}")
    return state, True


def observed(recorder: Recorder, payloads: Payloads, profile: Path) -> Stretch:
    with tempfile.TemporaryDirectory(prefix="footprint-") as tmp:
        t0 = time.time()
        stretch = recorder.start("observed")
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        got = suite_run.run([f"--device={profile}", f"--report-dir={Path(tmp) / 'report'}"], REPO,
                            Path(tmp) / "junit.xml", RUN_TIMEOUT_S)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        recorder.stop()
        stretch.payloads = payloads.between(t0, time.time())
    stretch.runner_cpu_s = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    stretch.suite = {"rc": got.rc, **{k: len(got.of(k)) for k in ("passed", "failed", "error", "skipped")},
                     "problem": got.problem}
    if got.rc not in (0, 1) or not got.of("passed") or got.of("failed") or got.of("error"):
        stretch.suite["describe"] = got.describe()
        print(f"suite run: {got.describe()}", flush=True)
    return stretch


def unobserved(recorder: Recorder, payloads: Payloads, seconds: float) -> Stretch:
    t0 = time.time()
    stretch = recorder.start("unobserved")
    time.sleep(seconds)  # the stretch itself: nothing to wait for, its length is the measurement's
    recorder.stop()
    stretch.payloads = payloads.between(t0, time.time())
    return stretch


# -------------------------------------------------------------------------------------------- the report


def per_core_percent(cpu_s: float, seconds: float) -> float:
    return 100.0 * cpu_s / seconds if seconds else 0.0


def summarize(stretches: list[Stretch]) -> dict:
    obs = [s for s in stretches if s.kind == "observed"]
    unobs = [s for s in stretches if s.kind == "unobserved"]

    def rate(s: Stretch, value: float) -> float:
        return value / s.seconds

    started = statistics.mean(rate(s, s.suite_cpu_s()) for s in obs) - statistics.mean(
        rate(s, s.suite_cpu_s()) for s in unobs)
    broker = statistics.mean(rate(s, s.cgroup_cpu_s.get("mosquitto", 0.0)) for s in obs) - statistics.mean(
        rate(s, s.cgroup_cpu_s.get("mosquitto", 0.0)) for s in unobs)
    engine = statistics.mean(rate(s, s.engine_cpu_s) for s in obs) - statistics.mean(
        rate(s, s.engine_cpu_s) for s in unobs)
    probe = [p for s in obs for p in s.probe()]
    agents = {"observed": [agent_figures(s.payloads) for s in obs],
              "observed_without_probe": [agent_figures(s.without_probe()) for s in obs],
              "unobserved": [agent_figures(s.payloads) for s in unobs]}
    out = {
        "suite_cpu_percent": 100.0 * (started + broker),
        "started_processes_percent": 100.0 * started,
        "broker_percent": 100.0 * broker,
        "engine_percent": 100.0 * engine,
        "suite_cpu_s": statistics.mean(s.suite_cpu_s() for s in obs),
        "run_seconds": statistics.mean(s.seconds for s in obs),
        "probe_cpu_s": statistics.mean([sum(p.cpu_s for p in s.probe()) for s in obs]),
        "probe_peak_mb": max((p.peak_mb for p in probe), default=0.0),
        "probe_seconds": statistics.mean([sum(p.last - p.first for p in s.probe()) for s in obs]),
        "runner_percent": statistics.mean(100.0 * s.runner_cpu_s / s.seconds for s in obs),
        "agents": agents,
    }
    for key in ("rate_hz", "p50_infer_ms", "p50_latency_ms"):
        u = [a[key] for a in agents["unobserved"] if key in a]
        for seen in ("observed", "observed_without_probe"):
            o = [a[key] for a in agents[seen] if key in a]
            if o and u:
                noise = max(u) - min(u) if len(u) > 1 else 0.0
                change = statistics.mean(o) - statistics.mean(u)
                out.setdefault(key, {})[seen] = {
                    "observed": statistics.mean(o), "unobserved": statistics.mean(u), "change": change,
                    "ratio": statistics.mean(o) / statistics.mean(u), "noise": noise,
                    "within_noise": abs(change) <= noise}
    return out


def print_processes(stretches: list[Stretch]) -> None:
    groups: dict[tuple[str, str], list[Seen]] = {}
    for s in stretches:
        if s.kind == "observed":
            for p in s.processes.values():
                if p.comm:
                    groups.setdefault((p.container, p.comm), []).append(p)
    print(f"{'container':<16} {'process':<16} {'count':>5} {'CPU s (seen)':>12} {'peak MB':>8}  example")
    for (container, comm), ps in sorted(groups.items(), key=lambda kv: -sum(p.cpu_s for p in kv[1])):
        example = max(ps, key=lambda p: p.cpu_s).cmd[:70]
        print(f"{container:<16} {comm:<16} {len(ps):>5} {sum(p.cpu_s for p in ps):>12.2f} "
              f"{max(p.peak_mb for p in ps):>8.1f}  {example}")


def print_stretches(stretches: list[Stretch]) -> None:
    print(f"{'stretch':<11} {'s':>6} {'suite CPU s':>11} {'broker CPU s':>12} {'engine CPU s':>12} "
          f"{'runner CPU s':>12} {'rate Hz':>8} {'p50 infer':>9} {'p50 lat':>8}  suite")
    for s in stretches:
        a = agent_figures(s.payloads)
        suite = (f"{s.suite['passed']} passed, {s.suite['failed']} failed, {s.suite['error']} errors, "
                 f"{s.suite['skipped']} skipped"
                 f"{' ' + s.suite['problem'] if s.suite.get('problem') else ''}") if s.suite else "-"
        print(f"{s.kind:<11} {s.seconds:>6.1f} {s.suite_cpu_s():>11.2f} {s.cgroup_cpu_s.get('mosquitto', 0):>12.2f} "
              f"{s.engine_cpu_s:>12.2f} {s.runner_cpu_s:>12.2f} {a.get('rate_hz', 0):>8.3f} "
              f"{a.get('p50_infer_ms', 0):>9.1f} {a.get('p50_latency_ms', 0):>8.1f}  {suite}")


def print_goals(out: dict) -> bool:
    cpu_ok = out["suite_cpu_percent"] <= CPU_GOAL_PERCENT
    print(f"goal 1, device CPU of the suite <= {CPU_GOAL_PERCENT:g} % of one core: "
          f"{out['suite_cpu_percent']:.2f} % ({'met' if cpu_ok else 'NOT met'}; ratio to the goal "
          f"{out['suite_cpu_percent'] / CPU_GOAL_PERCENT:.2f}): processes it started "
          f"{out['started_processes_percent']:.2f} %, broker {out['broker_percent']:.2f} %; "
          f"{out['suite_cpu_s']:.2f} CPU s over a {out['run_seconds']:.1f} s run")
    print(f"  apart: the probe {out['probe_cpu_s']:.2f} CPU s over {out['probe_seconds']:.1f} s, peak "
          f"{out['probe_peak_mb']:.0f} MB; the engine (dockerd, containerd; shared) {out['engine_percent']:.2f} % "
          f"of one core; the suite's runner (pytest, here on the device's CPUs) {out['runner_percent']:.1f} %")
    agents_ok = True
    for key, unit in (("rate_hz", "Hz"), ("p50_infer_ms", "ms"), ("p50_latency_ms", "ms")):
        for seen, f in (out.get(key) or {"observed": None}).items():
            if not f:
                print(f"goal 2, {key}: no payloads")
                agents_ok = False
                continue
            if seen == "observed":
                agents_ok &= f["within_noise"]
            print(f"goal 2, agents' {key} ({seen.replace('_', ' ')}): {f['observed']:.3f} {unit} vs unobserved "
                  f"{f['unobserved']:.3f} {unit} (ratio {f['ratio']:.3f}, change {f['change']:+.3f}, noise "
                  f"{f['noise']:.3f}): {'within the noise' if f['within_noise'] else 'BEYOND the noise'}")
    return cpu_ok and agents_ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim", default="footprint", help="simulator name (started if not up)")
    parser.add_argument("--encoder", choices=("dinov2-s14", "siglip2-b16", "tiny"), help="for a simulator started here")
    parser.add_argument("--repeats", type=int, default=1, help="suite runs (each with unobserved stretches)")
    parser.add_argument("--ssh", action="store_true", help="reach the device over SSH (device-ssh.toml)")
    parser.add_argument("--keep", action="store_true", help="leave a simulator started here up")
    parser.add_argument("--json", metavar="PATH", help="save the stretches and figures here")
    args = parser.parse_args()
    if not 1 <= args.repeats <= 10:
        raise SystemExit(f"--repeats must be 1-10, not {args.repeats}")
    state, started = ensure_sim(args)
    load0 = os.getloadavg()[0]
    cfg = simulator.SimConfig.load(args.sim)
    profile = cfg.root / "device-ssh.toml" if args.ssh else Path(state["profile"])
    layout = cfg.layout()
    containers = [Container.find("device host", cfg.container)]
    containers += [Container.find(s, layout.container(s)) for s in SERVICES]
    payloads = Payloads(cfg.mqtt_port)
    stretches: list[Stretch] = []
    try:
        for i in range(args.repeats):
            s = observed(Recorder(containers), payloads, profile)
            stretches.append(s)
            for _ in range(2 if i == 0 else 1):  # two after the first run: the noise needs a pair
                stretches.append(unobserved(Recorder(containers), payloads, s.seconds))
    finally:
        payloads.close()
        if started and not args.keep:
            subprocess.run([str(REPO / ".venv" / "bin" / "jetson-hil"), "sim", "down", "--name", args.sim, "--purge"],
                           cwd=REPO, stdout=subprocess.DEVNULL)
    print_stretches(stretches)
    print_processes(stretches)
    out = summarize(stretches)
    ok = print_goals(out)
    if args.json:
        data = {"sim": args.sim, "encoder": cfg.encoder, "transport": "ssh" if args.ssh else "docker",
                "cpus": os.cpu_count(), "load1_start": load0, "load1_end": os.getloadavg()[0], "figures": out,
                "stretches": [{**{k: v for k, v in vars(s).items() if k not in ("processes", "payloads")},
                               "processes": [vars(p) for p in s.processes.values()]} for s in stretches]}
        Path(args.json).write_text(json.dumps(data, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
