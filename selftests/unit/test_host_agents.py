"""Agents as host processes (``[agents] mode = "process"``): the profile setting, the skip decisions of the
container-only checks, and finding vl_jepa's host pid by its command line (on text, and on this machine's /proc)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jetson_hil import host_agents
from jetson_hil.profile import AgentSettings, ProfileError, load_profile, profile_from_dict

ROOT = Path(__file__).resolve().parents[2]


def _profile(**agents):
    return profile_from_dict({"device": {"name": "d"}, "agents": agents}, "devices/d.toml")


# --------------------------------------------------------------------------------------------- profile


def test_default_is_containers():
    p = profile_from_dict({"device": {"name": "d"}})
    assert p.agents == AgentSettings() and p.agents.mode == "container" and not p.agents.host_processes
    assert p.agents.python == "python3" and p.agents.process_pattern == r"vl_jepa\.py"


def test_process_mode_with_its_python_and_pattern():
    p = _profile(mode="process", python="/opt/agents/.venv/bin/python3", process_pattern=r"agents/vl_jepa\.py")
    assert p.agents.host_processes
    assert p.agents.python == "/opt/agents/.venv/bin/python3"


@pytest.mark.parametrize(
    ("agents", "message"),
    [
        ({"mode": "docker"}, 'devices/d.toml: agents.mode = "docker": must be one of "container", "process"'),
        ({"mode": 1}, 'devices/d.toml: agents.mode = 1: must be one of "container", "process"'),
        ({"python": "python3 -u"}, 'agents.python = "python3 -u": must be a command name or an absolute path'),
        ({"python": ""}, 'agents.python = "": must be a command name or an absolute path, without spaces'),
        ({"process_pattern": "vl_jepa("}, 'agents.process_pattern = "vl_jepa(": must be a regular expression ('),
        ({"process_pattern": " "}, 'agents.process_pattern = " ": must be a non-empty regular expression'),
        ({"mod": "process"}, 'agents.mod = "process": unknown key; did you mean mode?'),
    ],
)
def test_bad_values_are_one_line_errors(agents, message):
    with pytest.raises(ProfileError) as info:
        _profile(**agents)
    text = str(info.value)
    assert message in text and "\n" not in text


def test_example_process_profile_loads():
    p = load_profile(ROOT / "devices" / "example-dgpu-process.toml")
    assert p.agents.host_processes and p.device.kind == "dgpu" and p.device.host == "local://"


# ------------------------------------------------------------------------------------------ skip decisions


def test_container_checks_skip_only_in_process_mode():
    assert host_agents.container_check_skip("process") == "the agents run as host processes: no container to check"
    assert host_agents.container_check_skip("container") is None


# The checks that look at a container and nothing else; each names `container_only` before any container fixture.
CONTAINER_ONLY = {
    "tests/host/test_task1_gpu_diag.py": {
        "test_docker_knows_the_nvidia_runtime",
        "test_nvidia_runtime_is_default_or_used_by_the_agent",
    },
    "tests/container/test_task2_container_cuda.py": {
        "test_agent_container_is_running",
        "test_agent_container_is_not_restarting",
        "test_agent_uses_the_nvidia_runtime",
        "test_agent_sees_the_gpu_device_nodes",
    },
    "tests/container/test_task4_image_alignment.py": {
        "test_dockerfile_base_image_targets_the_host_l4t",
        "test_running_image_targets_the_host_l4t",
        "test_requirements_keep_the_jetson_torch",
    },
    "tests/container/test_task5_tensorrt.py": {"test_engine_file_present_in_the_container"},
}
CONTAINER_FIXTURES = {"agent_container", "guard_container", "docker_client", "dockerfile", "requirements"}


def _tests(module: str) -> dict[str, list[str]]:
    tree = ast.parse((ROOT / module).read_text())
    return {
        node.name: [a.arg for a in node.args.args]
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }


@pytest.mark.parametrize("module", sorted(CONTAINER_ONLY))
def test_container_only_checks_ask_to_skip_first(module):
    """In process mode they skip before a container fixture is set up; the probe-reading checks keep running."""
    tests = _tests(module)
    marked = {name for name, args in tests.items() if "container_only" in args}
    assert marked == CONTAINER_ONLY[module]
    for name in marked:
        args = tests[name]
        first_container = min((args.index(a) for a in CONTAINER_FIXTURES if a in args), default=len(args))
        assert args.index("container_only") < first_container, f"{name}: container_only after {args}"


# -------------------------------------------------------------------------------------------- pid matching

LISTING = (
    "1 /sbin/init splash\n2 \n37\n"
    """\
498 /opt/torch/.venv/bin/python3 -m amqtt.broker
502 /opt/torch/.venv/bin/python3 /srv/agents/vl_jepa.py
503 /opt/torch/.venv/bin/python3 /srv/agents/embedding_guard.py
511 /usr/bin/python3 /srv/agents/vl_jepa_py_backup.sh
600 sh -c for d in /proc/[0-9]*; do ...; done
x12 /bin/false vl_jepa.py
"""
)


def test_agent_pids_match_the_pattern_on_the_command_line():
    assert host_agents.agent_pids(LISTING, r"vl_jepa\.py") == {502}
    assert host_agents.agent_pids(LISTING, r"vl_jepa") == {502, 511}
    assert host_agents.agent_pids(LISTING, r"vl_jepa", exclude={511}) == {502}
    assert host_agents.agent_pids(LISTING, r"^/usr/bin/python3 ") == {511}


def test_agent_pids_ignore_kernel_threads_and_vanished_processes():
    assert host_agents.agent_pids("2 \n37\n\n", ".") == set()
    assert host_agents.agent_pids("", r"vl_jepa\.py") == set()


def test_process_listing_finds_a_real_process_by_its_command_line():
    """The listing command on this machine's /proc, with a process whose command line names vl_jepa.py."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "agents/vl_jepa.py"])
    try:
        deadline = time.monotonic() + 60  # a hang guard: the process shows up at once
        found: set[int] = set()
        while time.monotonic() < deadline and proc.pid not in found:
            out = subprocess.run(
                ["sh", "-c", host_agents.PROCESS_LIST_COMMAND], capture_output=True, text=True, timeout=30
            )
            found = host_agents.agent_pids(out.stdout, r"vl_jepa\.py")
        assert proc.pid in found
        assert os.getpid() not in found
    finally:
        proc.kill()
        proc.wait(10)


def test_probe_command_quotes_the_python_and_leaves_the_script_to_its_copy():
    cmd = host_agents.probe_command("/opt/my {agents}/python3", 90)
    assert cmd.format(script='"$d/check_torch_cuda.py"') == (
        "'/opt/my {agents}/python3' \"$d/check_torch_cuda.py\" --timeout 90")
    assert host_agents.probe_where("python3") == "python3 on the host"
