"""The device lease's pure logic: parsing the directory listing, who blocks whom, what is stale, the busy line."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jetson_hil import lease as L

NOW = 1_800_000_000.0


def holder(run: str, mode: str = L.SHARED, host: str = "ci-1", pid: int = 100, expires: float = NOW + 30) -> L.Holder:
    return L.Holder(L.file_name(run, host, pid), run, mode, f"ci@{host}", host, pid, expires, NOW - 5, "orin-07")


def state(*holders: L.Holder, corrupt: tuple[str, ...] = ()) -> L.State:
    return L.State(NOW, 7, holders, corrupt)


def alive(pid: int) -> bool:
    return pid != 666


def test_parse_state_reads_clock_gen_and_holders() -> None:
    h = holder("run-a", L.EXCLUSIVE)
    text = f"now {NOW:.0f}\ngen 12\nlease {h.file} {h.expires:.0f} {h.record()}\nlease junk.lease 12 {{not json\n"
    s = L.parse_state(text)
    assert (s.now, s.gen, s.corrupt) == (NOW, 12, ("junk.lease",))
    assert s.holders == (h,)


def test_parse_state_without_a_clock_is_one_line_error() -> None:
    with pytest.raises(L.LeaseError, match="could not be read: sh: 1: cd: can't cd"):
        L.parse_state("sh: 1: cd: can't cd to /x\n")


@given(st.text(max_size=300))
def test_parse_holder_never_raises(body: str) -> None:
    assert L.parse_holder("x.lease", body) is None or isinstance(L.parse_holder("x.lease", body), L.Holder)


def test_parse_holder_rejects_unknown_mode_and_missing_fields() -> None:
    good = json.loads(holder("r").record())
    assert L.parse_holder("f", f"{NOW} {json.dumps(good)}") is not None
    assert L.parse_holder("f", f"{NOW} {json.dumps({**good, 'mode': 'greedy'})}") is None
    del good["pid"]
    assert L.parse_holder("f", f"{NOW} {json.dumps(good)}") is None


@pytest.mark.parametrize(
    ("held", "asked", "granted"),
    [
        ((), L.EXCLUSIVE, True),
        ((L.SHARED,), L.SHARED, True),
        ((L.SHARED, L.SHARED), L.SHARED, True),
        ((L.SHARED,), L.EXCLUSIVE, False),
        ((L.EXCLUSIVE,), L.SHARED, False),
        ((L.EXCLUSIVE,), L.EXCLUSIVE, False),
    ],
)
def test_shared_leases_mix_exclusive_mixes_with_none(held: tuple[str, ...], asked: str, granted: bool) -> None:
    holders = [holder(f"other-{i}", mode, pid=200 + i) for i, mode in enumerate(held)]
    d = L.decide(state(*holders), "mine", asked, "ci-1", alive)
    assert d.granted is granted
    assert d.stale == ()
    assert len(d.blockers) == (0 if granted else len(holders))


def test_a_run_never_blocks_itself() -> None:
    """xdist workers of one run: another process of the same run holds it exclusively; still granted."""
    d = L.decide(state(holder("run-1", L.EXCLUSIVE, pid=200)), "run-1", L.EXCLUSIVE, "ci-1", alive)
    assert d.granted


def test_expired_lease_is_stale_and_does_not_block() -> None:
    old = holder("crashed", L.EXCLUSIVE, host="elsewhere", expires=NOW - 1)
    d = L.decide(state(old), "mine", L.EXCLUSIVE, "ci-1", alive)
    assert d.granted
    assert d.stale == ((old.file, f"expired at {old.until()}"),)


def test_gone_process_on_this_machine_is_stale_elsewhere_is_not() -> None:
    here = holder("killed", L.EXCLUSIVE, host="ci-1", pid=666)
    there = holder("remote", L.SHARED, host="ci-2", pid=666)
    d = L.decide(state(here, there), "mine", L.EXCLUSIVE, "ci-1", alive)
    assert not d.granted
    assert d.stale == ((here.file, "its process 666 on ci-1 is gone"),)
    assert d.blockers == (there,)


def test_unreadable_files_are_removed_as_stale() -> None:
    d = L.decide(state(corrupt=("half.lease",)), "mine", L.SHARED, "ci-1", alive)
    assert d.granted and d.stale == (("half.lease", "unreadable lease file"),)


def test_exclusive_blocker_is_named_first() -> None:
    shared = holder("reader", L.SHARED, pid=201, expires=NOW + 50)
    exclusive = holder("fixer", L.EXCLUSIVE, pid=202, expires=NOW + 10)
    d = L.decide(state(shared, exclusive), "mine", L.EXCLUSIVE, "ci-1", alive)
    assert [b.run_id for b in d.blockers] == ["fixer", "reader"]


def test_busy_message_is_one_line_naming_holder_mode_expiry_and_fix() -> None:
    h = holder("20261130T010203Z.ci-1.100", L.EXCLUSIVE, expires=NOW + 42)
    line = L.busy_message("orin-07", L.SHARED, [h, holder("x", pid=3)], NOW, 60.2, "/tmp/jetson-hil-lease")
    assert "\n" not in line
    assert line.startswith(
        "device orin-07 is leased exclusive by ci@ci-1 (run 20261130T010203Z.ci-1.100, pid 100) until "
        f"{h.until()} (42 s from now) (and 1 more run); waited 60 s for a shared lease; fix: "
    )
    assert f"/tmp/jetson-hil-lease/{h.file}" in line


def test_bad_mode_and_ttl_are_refused() -> None:
    with pytest.raises(ValueError, match="lease mode must be one of shared, exclusive"):
        L.decide(state(), "r", "rw", "h", alive)
    with pytest.raises(ValueError, match="ttl must be at least 3 s"):
        L.acquire(lambda c, t: (0, "", ""), "r", L.SHARED, ttl_s=1)


@given(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=40), st.integers(0, 2**31))
def test_file_name_is_a_safe_single_path_component(run: str, host: str, pid: int) -> None:
    name = L.file_name(run, host, pid)
    assert name.startswith("run-") and name.endswith(".lease")
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def test_transport_failures_are_lease_unreachable_and_flock_missing_is_named() -> None:
    def raising(command: str, timeout: float) -> tuple[int, str, str]:
        raise RuntimeError("ssh: connect to host 10.0.0.9 port 22: No route to host")

    with pytest.raises(L.LeaseUnreachable, match="No route to host"):
        L.holders(raising)
    with pytest.raises(L.LeaseError, match="flock is not installed"):
        L.holders(lambda c, t: (127, "", "sh: 1: flock: not found"))
    with pytest.raises(L.LeaseUnreachable, match="container .* is paused"):
        L.holders(lambda c, t: (1, "", "Error response from daemon: container abc is paused"))
