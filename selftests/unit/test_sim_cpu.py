"""The simulated device's CPU group (jetson_hil/sim/project.py): outweighs the host's processes, capped below all
of the host's CPUs so the runner that measures the device keeps some. Against a scratch directory laid out as
cgroup v1 or v2; the live group is what selftests/fleet/test_fleet_live.py's latency checks run under."""

from __future__ import annotations

import os

from jetson_hil.sim import project


def _quota() -> int:
    return int(max(1.0, (os.cpu_count() or 1) - project.RUNNER_CPUS) * 100_000)


def test_v1_group_gets_the_weight_and_the_cap(tmp_path):
    (tmp_path / "cpu").mkdir()
    assert project.shape_device_cgroup(tmp_path)
    group = tmp_path / "cpu" / project.DEVICE_CGROUP.strip("/")
    assert (group / "cpu.shares").read_text() == f"{project.CPU_SHARES}\n"
    assert (group / "cpu.cfs_quota_us").read_text() == f"{_quota()}\n"
    assert project.shape_device_cgroup(tmp_path), "idempotent: a second `sim up` shapes it again"


def test_v2_group_gets_the_weight_and_the_cap(tmp_path):
    assert project.shape_device_cgroup(tmp_path)
    group = tmp_path / project.DEVICE_CGROUP.strip("/")
    assert (group / "cpu.weight").read_text() == "10000\n"
    assert (group / "cpu.max").read_text() == f"{_quota()} 100000\n"


def test_a_host_that_refuses_leaves_the_services_at_the_top_level(tmp_path):
    (tmp_path / "cpu").write_text("not a directory of cgroups")
    assert not project.shape_device_cgroup(tmp_path / "cpu")
