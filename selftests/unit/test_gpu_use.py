"""jetson_hil.gpu_use: GPU-use evidence that holds on fast GPUs, on captured real outputs and the H200 run."""

from __future__ import annotations

import json

import pytest

from jetson_hil.dgpu import GpuProcess, ProcessSample, ProcessSamples, parse_process_samples, parse_processes
from jetson_hil.errors import ParseError
from jetson_hil.gpu_use import (
    SIM_CLIENTS_COMMAND,
    Agent,
    GpuClient,
    collect,
    from_nvmap,
    from_nvml,
    from_sim,
    parse_nvmap_clients,
    parse_sim_client,
    parse_sim_clients,
)

# Real /sys/kernel/debug/nvmap/iovmm/clients files, verbatim.
# Source: gimbal-ai/gimbal, src/common/system/testdata/sys/kernel/debug/nvmap/iovmm/clients
# (commit ce3d2980c19db7d9ab3f3d28e501d375744b5496), a Jetson's table used by its nvmap parser's tests.
NVMAP_GIMBAL = (
    "CLIENT                        PROCESS      PID        SIZE\n"
    "user                              gem     4481     118372K\n"
    "user                      gnome-shell     2831       5384K\n"
    "user                             Xorg     1731      18140K\n"
    "user                   nvargus-daemon     1012          0K\n"
    "total                                              141896K\n"
)
# Source: htop-dev/htop, linux/NvidiaJetson.c (commit 1c774faca903e6b48eca57d1a8babff913afe8e4), the sample in
# its header comment of the same file read as root.
NVMAP_HTOP = (
    "CLIENT                        PROCESS      PID        SIZE\n"
    "user                         gpu_burn     7979   23525644K\n"
    "user                      gnome_shell     8119       5800K\n"
    "user                             Xorg     2651      17876K\n"
    "total                                            23549320K\n"
)

# Captured on the H200 (fixtures/data/real/h200/gpu_use_run1.txt): `gpu_sampler.py --processes` and the first samples of
# `--process-samples 10` while vl_jepa (pid 755) embedded at 5 Hz and load.py (pid 942) ran matmuls.
H200_PROCESSES = (
    "755, /opt/torch/.venv/bin/python3, 816, /opt/torch/.venv/bin/python3 /work/main/jetson_hil/sim/agents/vl_jepa.py\n"
    "942, /opt/torch/.venv/bin/python3, 714, /opt/torch/.venv/bin/python3 /work/main/.gpuval/load.py\n"
)
H200_SAMPLES_FLOW = (
    "755, 1795993895155867, 1, 0\n755, 1795993895755134, 0, 0\n755, 1795993896156672, 0, 0\n"
    "755, 1795993896755038, 0, 0\n755, 1795993897156143, 0, 0\n# period_us 598341\n"
)
H200_SAMPLES_CPU_LOAD = (
    "942, 1795993930159262, 98, 14\n942, 1795993930756493, 98, 14\n942, 1795993931157428, 97, 14\n"
    "# period_us 595841\n"
)


def sim_record(pid: int, host: str, script: str, busy_ns: int, started: float = 100.0) -> dict:
    return {"pid": pid, "host": host, "cmdline": ["python3", script], "busy_ns": busy_ns,
            "updated": started + 10, "started": started}  # fmt: skip


# ------------------------------------------------------------------------------------------------ nvmap
def test_nvmap_clients_of_real_tables() -> None:
    clients = parse_nvmap_clients(NVMAP_GIMBAL)
    assert [(c.pid, c.name, c.memory_bytes) for c in clients] == [
        (4481, "gem", 118372 * 1024),
        (2831, "gnome-shell", 5384 * 1024),
        (1731, "Xorg", 18140 * 1024),
        (1012, "nvargus-daemon", 0),
    ]
    assert [c.name for c in parse_nvmap_clients(NVMAP_HTOP)] == ["gpu_burn", "gnome_shell", "Xorg"]


def test_nvmap_sizes_in_m_and_g_and_names_with_spaces() -> None:
    text = "user   my app   12   3M\nuser  big  13  2G\n"
    assert [(c.name, c.memory_bytes) for c in parse_nvmap_clients(text)] == [("my app", 3 * 2**20), ("big", 2 * 2**30)]


@pytest.mark.parametrize("line", ["user Xorg abc 5K", "kernel Xorg 12 5K", "user Xorg 12 5T", "user 12 5K"])
def test_nvmap_bad_rows_raise(line: str) -> None:
    with pytest.raises(ParseError):
        parse_nvmap_clients(line)


def test_jetson_compositor_does_not_pass_for_the_agent() -> None:
    """The runbook's GR3D check passes on a desktop Jetson with nothing embedding; this one does not."""
    use = from_nvmap(parse_nvmap_clients(NVMAP_GIMBAL), Agent(pids={5555}), [12.0, 30.0], 1.0, 2.0)
    assert not use and use.agent_busy_s is None
    assert "not among the 4 nvmap client(s)" in use.reason and "pid 1731 Xorg" in use.reason


def test_jetson_agent_with_memory_and_gr3d_passes() -> None:
    clients = parse_nvmap_clients(NVMAP_HTOP)
    use = from_nvmap(clients, Agent(name="gpu_burn"), [50.0, 100.0], 1.0, 2.0)
    assert use and use.agent_busy_s == pytest.approx(1.5) and use.source == "nvmap"
    assert "all users together" in use.reason and "Xorg" in use.others[-1]
    assert not from_nvmap(clients, Agent(name="gpu_burn"), [0.0, 0.0], 1.0, 2.0)
    assert not from_nvmap(clients, Agent(name="gpu_burn"), [], 1.0, 2.0)
    fell_back = from_nvmap(clients, Agent(name="gpu_burn"), [50.0], 1.0, 1.0, claimed_device="cpu")
    assert not fell_back and "device='cpu'" in fell_back.reason
    unmapped = from_nvmap(parse_nvmap_clients(NVMAP_GIMBAL), Agent(name="nvargus-daemon"), [50.0], 1.0, 1.0)
    assert not unmapped and "no GPU memory mapped" in unmapped.reason


def test_agent_name_compares_the_15_character_comm() -> None:
    client = GpuClient(1, "embedding_guard")  # comm is cut at 15 characters
    assert Agent(name="embedding_guard_agent").matches(client)


# -------------------------------------------------------------------------------------------- simulator
def test_sim_client_parsing() -> None:
    client = parse_sim_client(json.dumps(sim_record(7, "abc123", "/app/agents/vl_jepa.py", 5_000_000)))
    assert (client.pid, client.host, client.name, client.busy_ns) == (7, "abc123", "vl_jepa.py", 5_000_000)
    assert client.cmdline == "python3 /app/agents/vl_jepa.py" and client.started == 100.0
    with pytest.raises(ParseError):
        parse_sim_client('{"pid": "7"}')
    with pytest.raises(ParseError):
        parse_sim_client("{not json")


def test_sim_dump_tolerates_vanished_and_torn_files() -> None:
    a = json.dumps(sim_record(7, "h1", "/app/agents/vl_jepa.py", 1))
    b = json.dumps(sim_record(8, "h2", "/tmp/load.py", 2))
    text = f"{a}\n{{\"pid\": 9, \"bus\n{b}{a}\n\n"
    assert [c.pid for c in parse_sim_clients(text)] == [7, 8, 7]
    assert "/run/jetson-sim/gpu/clients/*.json" in SIM_CLIENTS_COMMAND


def test_sim_flow_counts_busy_growth_of_the_agent_only() -> None:
    agent = Agent(cmdline="vl_jepa.py", host="vl")
    before = [parse_sim_client(sim_record(7, "vl", "/app/agents/vl_jepa.py", 1_000_000_000)),
              parse_sim_client(sim_record(7, "other", "/app/agents/vl_jepa.py", 0))]  # fmt: skip
    after = [parse_sim_client(sim_record(7, "vl", "/app/agents/vl_jepa.py", 3_500_000_000)),
             parse_sim_client(sim_record(7, "other", "/app/agents/vl_jepa.py", 9_000_000_000))]  # fmt: skip
    use = from_sim(before, after, agent, 10.0)
    assert use and use.agent_busy_s == pytest.approx(2.5) and use.busy_fraction == pytest.approx(0.25)
    assert use.others == ("pid 7 vl_jepa.py on other (+9 s GPU)",)


def test_config_cpu_fails_while_an_unrelated_process_loads_the_simulated_gpu() -> None:
    agent = Agent(cmdline="vl_jepa.py", host="vl")
    load = sim_record(40, "stress", "/tmp/load.py", 0)
    after = [parse_sim_client(dict(load, busy_ns=8_000_000_000))]
    use = from_sim([parse_sim_client(load)], after, agent, 10.0)
    assert not use and use.agent_busy_s is None
    assert "has no GPU client" in use.reason and "VL_JEPA_DEVICE=cpu" in use.reason
    assert "pid 40 load.py on stress (+8 s GPU)" in use.reason


def test_sim_context_without_work_fails_and_new_clients_count_whole() -> None:
    agent = Agent(cmdline="vl_jepa.py")
    idle = parse_sim_client(sim_record(7, "vl", "/app/agents/vl_jepa.py", 123))
    use = from_sim([idle], [idle], agent, 10.0)
    assert not use and use.agent_busy_s == 0 and "holds a CUDA context" in use.reason
    fresh = parse_sim_client(sim_record(7, "vl", "/app/agents/vl_jepa.py", 400_000_000, started=200.0))
    assert from_sim([idle], [fresh], agent, 10.0).agent_busy_s == pytest.approx(0.4)
    assert not from_sim([], [fresh], agent, 10.0, min_busy_s=0.5)


# ------------------------------------------------------------------------------------------------ NVML
def test_h200_flow_with_unrelated_load() -> None:
    processes = parse_processes(H200_PROCESSES)
    use = from_nvml(processes, parse_process_samples(H200_SAMPLES_FLOW), Agent(pids={755}), 10.0,
                    claimed_device="cuda")  # fmt: skip
    assert use and use.source == "nvml" and use.agent_clients == ("755",)
    assert use.agent_busy_s == pytest.approx(0.01 * 0.598341)
    assert "1 of 5 samples above 0 %" in use.reason and "= 6 ms" in use.reason
    assert use.others == ("pid 942 /opt/torch/.venv/bin/python3 (714 MiB, 0 s GPU)",)


def test_h200_config_cpu_fails_while_load_runs() -> None:
    processes = [p for p in parse_processes(H200_PROCESSES) if p.pid != 755]
    use = from_nvml(processes, parse_process_samples(H200_SAMPLES_CPU_LOAD), Agent(pids={1060}), 10.0)
    assert not use and use.agent_busy_s is None
    assert "not among the GPU's 1 compute process(es)" in use.reason
    assert use.others == ("pid 942 /opt/torch/.venv/bin/python3 (714 MiB, 1.75 s GPU)",)


def test_nvml_context_that_says_cpu_fails_and_busy_can_be_required() -> None:
    procs = [GpuProcess(5, "python3", 600)]
    zero = ProcessSamples([ProcessSample(5, 1, 0), ProcessSample(5, 600_001, 0)], 600_000)
    fell_back = from_nvml(procs, zero, Agent(pids={5}), 10.0, claimed_device="cpu")
    assert not fell_back and "device='cpu'" in fell_back.reason and fell_back.agent_busy_s == 0
    assert from_nvml(procs, zero, Agent(pids={5}), 10.0)  # presence decides by default
    required = from_nvml(procs, zero, Agent(pids={5}), 10.0, min_busy_s=0.0)
    assert not required and "not above 0 s" in required.reason
    busy = ProcessSamples([ProcessSample(5, 1, 30)], None)  # no period: one sample -> 1 s assumed
    assert from_nvml(procs, busy, Agent(pids={5}), 10.0, min_busy_s=0.1).agent_busy_s == pytest.approx(0.3)


def test_nvml_without_per_process_samples_decides_on_presence() -> None:
    procs = [GpuProcess(5, "python3", None)]
    use = from_nvml(procs, ProcessSamples([], error="Not Supported"), Agent(pids={5}), 10.0)
    assert use and use.agent_busy_s is None and "Not Supported" in use.reason
    assert not from_nvml(procs, None, Agent(pids={5}), 10.0, claimed_device="cpu")


def test_agent_by_cmdline_on_a_dgpu() -> None:
    use = from_nvml(parse_processes(H200_PROCESSES), None, Agent(cmdline="agents/vl_jepa.py"), 10.0)
    assert use and use.agent_clients == ("755",)


# ------------------------------------------------------------------------------------------------ collect
class FakeHost:
    def __init__(self, answers: dict[str, list[tuple[int, str, str]]]):
        self.answers = answers
        self.calls: list[tuple[str, float]] = []

    def __call__(self, cmd: str, timeout: float) -> tuple[int, str, str]:
        self.calls.append((cmd, timeout))
        for key, replies in self.answers.items():
            if key in cmd:
                return replies.pop(0) if len(replies) > 1 else replies[0]
        return 127, "", f"{cmd}: not found"


def test_collect_sim_reads_twice_around_the_window() -> None:
    a = json.dumps(sim_record(7, "vl", "/app/agents/vl_jepa.py", 0))
    b = json.dumps(sim_record(7, "vl", "/app/agents/vl_jepa.py", 50_000_000))
    host = FakeHost({"jetson-sim/gpu/clients": [(0, a + "\n", ""), (0, b + "\n", "")]})
    use = collect(host, "sim", Agent(cmdline="vl_jepa.py"), 0.05)
    assert use and use.agent_busy_s == pytest.approx(0.05) and len(host.calls) == 2


def test_collect_nvml_and_nvmap_and_errors() -> None:
    host = FakeHost({"--process-samples": [(0, H200_SAMPLES_FLOW, "")], "--processes": [(0, H200_PROCESSES, "")]})
    use = collect(host, "nvml", Agent(pids={755}), 0.01, sampler="python3 s.py", claimed_device="cuda")
    assert use and host.calls[0][0] == "python3 s.py --process-samples 0.01" and host.calls[0][1] > 30
    host = FakeHost({"nvmap": [(0, NVMAP_HTOP, "")]})
    use = collect(host, "nvmap", Agent(name="gpu_burn"), 0.01, gpu_loads=lambda t0, t1: [40.0])
    assert use and use.agent_busy_s == pytest.approx(0.4)
    with pytest.raises(RuntimeError, match="exit status 1"):
        collect(FakeHost({"nvmap": [(1, "", "sudo: a password is required")]}), "nvmap", Agent(), 0.0)
    with pytest.raises(ValueError, match="unknown GPU-use source"):
        collect(FakeHost({}), "tegra", Agent(), 0.0)
