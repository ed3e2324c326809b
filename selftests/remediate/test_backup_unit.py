"""The pure parts of remediation: what a restore must do, whether it worked, the journal, env edits, signals."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jetson_hil.backup import (
    ServiceState,
    Snapshot,
    differences,
    env_digest,
    from_json,
    journal_path,
    restore_plan,
    to_json,
)
from jetson_hil.envfile import EnvFile
from jetson_hil.interrupts import Terminated, held_interrupts, terminate_as_interrupt
from jetson_hil.remediate import RemediationError, backup_tag, edit_env, split_ref

ENV = "/p/config/jetson.env"
CENTROIDS = "/p/data/centroids.json"
SAMPLE_ENV = Path(__file__).resolve().parents[2] / "fixtures" / "data" / "compose" / "sim_project_jetson.env"


def svc(name: str, image: str = "sha256:aaaa", running: bool = True, env: str = "e1") -> ServiceState:
    return ServiceState(name, f"{name}_c", f"remed/{name}:latest", image, running, env)


def device(files=None, services=(), images=None) -> Snapshot:
    return Snapshot(dict(files or {}), {s.service: s for s in services}, dict(images or {}), "remed")


BEFORE = device(
    {ENV: b"VL_JEPA_DEVICE=cpu\n", CENTROIDS: b'{"dim": 64}'},
    [svc("vl_jepa", "sha256:old"), svc("embedding_guard"), svc("scene", running=False)],
    {"remed/vl_jepa:latest": "sha256:old", "remed/embedding_guard:latest": "sha256:aaaa"},
)


# ------------------------------------------------------------------------------------------- restore_plan


def test_nothing_changed_means_nothing_to_do():
    plan = restore_plan(BEFORE, BEFORE)
    assert plan.empty and plan.describe() == [] and differences(BEFORE, BEFORE) == []


def test_changed_files_are_written_back_and_created_ones_removed():
    before = device({ENV: b"A=1\n", "/p/new": None})
    now = device({ENV: b"A=2\n", "/p/new": b"made by the change"})
    plan = restore_plan(before, now)
    assert plan.write == {ENV: b"A=1\n"} and plan.delete == ["/p/new"]
    assert len(differences(before, now)) == 2


def test_a_path_never_backed_up_is_left_alone():
    now = device({ENV: BEFORE.files[ENV], CENTROIDS: BEFORE.files[CENTROIDS], "/p/other": b"x"},
                 BEFORE.services.values(), BEFORE.images)
    assert restore_plan(BEFORE, now).empty


def test_a_rebuilt_image_is_retagged_and_its_service_stopped_then_recreated():
    now = device(BEFORE.files, [svc("vl_jepa", "sha256:new"), svc("embedding_guard"), svc("scene", running=False)],
                 {"remed/vl_jepa:latest": "sha256:new", "remed/embedding_guard:latest": "sha256:aaaa"})
    plan = restore_plan(BEFORE, now)
    assert plan.retag == {"remed/vl_jepa:latest": "sha256:old"}
    assert plan.recreate == ["vl_jepa"] and plan.stop == ["vl_jepa"]
    assert any("vl_jepa" in line for line in differences(BEFORE, now))


def test_another_environment_means_recreate():
    now = device(BEFORE.files, [svc("vl_jepa", "sha256:old"), svc("embedding_guard", env="e2"),
                                svc("scene", running=False)], BEFORE.images)
    plan = restore_plan(BEFORE, now)
    assert plan.recreate == ["embedding_guard"] and plan.stop == ["embedding_guard"] and not plan.retag
    assert differences(BEFORE, now) == ["service embedding_guard: embedding_guard_c runs with another environment "
                                        "than before"]


def test_a_missing_container_is_recreated_without_stopping_it():
    now = device(BEFORE.files, [svc("embedding_guard"), svc("scene", running=False)], BEFORE.images)
    plan = restore_plan(BEFORE, now)
    assert plan.recreate == ["vl_jepa"] and plan.stop == []


def test_a_service_stopped_before_is_stopped_again():
    now = device(BEFORE.files, [svc("vl_jepa", "sha256:old"), svc("embedding_guard"), svc("scene")], BEFORE.images)
    plan = restore_plan(BEFORE, now)
    assert plan.stop_after == ["scene"] and plan.recreate == []
    assert differences(BEFORE, now) == [
        "service scene: scene_c running on remed/scene:latest (aaaa), where scene_c stopped on remed/scene:latest "
        "(aaaa) was"
    ]


def test_plan_descriptions_name_each_action():
    now = device({ENV: b"A=2\n", CENTROIDS: None}, [svc("vl_jepa", "sha256:new")],
                 {"remed/vl_jepa:latest": "sha256:new"})
    lines = restore_plan(BEFORE, now).describe()
    assert lines[0].startswith(f"write back {ENV} (19 bytes")
    assert any(line.startswith(f"write back {CENTROIDS}") for line in lines)
    assert any("as remed/vl_jepa:latest again" in line for line in lines)
    assert any(line.startswith("recreate vl_jepa embedding_guard") for line in lines)


def test_env_digest_ignores_order_but_not_values():
    assert env_digest(["A=1", "B=2"]) == env_digest(["B=2", "A=1"]) != env_digest(["A=1", "B=3"])
    assert env_digest(None) == env_digest([])


# ------------------------------------------------------------------------------------------------ journal


@given(st.dictionaries(st.text(min_size=1, max_size=30), st.one_of(st.none(), st.binary(max_size=300)), max_size=5))
def test_journal_round_trips_any_bytes(files):
    snap = Snapshot(files, BEFORE.services, {**BEFORE.images, "gone:1": None}, "remed")
    back, meta = from_json(to_json(snap, device="remed", run_id="r1", pid=7))
    assert back == snap and meta == {"device": "remed", "run_id": "r1", "pid": 7}


@pytest.mark.parametrize(
    "text, why",
    [
        ("not json", "not JSON"),
        ('{"version": 99}', "not a version 1"),
        ('{"version": 1, "files": {"a": "!!notbase64"}, "services": {}, "images": {}}', "damaged"),
        ('{"version": 1, "files": {}, "services": {"x": {"service": "x"}}, "images": {}}', "damaged"),
        ('{"version": 1}', "damaged"),
    ],
)
def test_a_damaged_journal_is_one_clear_error(text, why):
    with pytest.raises(ValueError, match=why):
        from_json(text)


def test_journal_path_is_per_device_and_safe(tmp_path):
    assert journal_path("orin-07", tmp_path) == tmp_path / "orin-07.json"
    assert journal_path("../../etc/x y", tmp_path).parent == tmp_path


# ---------------------------------------------------------------------------------------------- env edits


def test_edit_keeps_every_other_byte():
    data = SAMPLE_ENV.read_bytes()
    out, changes = edit_env(data, {"VL_JEPA_DEVICE": "cpu"})
    assert changes == {"VL_JEPA_DEVICE": ("cuda", "cpu")}
    assert out.replace(b"VL_JEPA_DEVICE=cpu", b"VL_JEPA_DEVICE=cuda") == data
    back, again = edit_env(out, {"VL_JEPA_DEVICE": "cuda"})
    assert back == data and again == {"VL_JEPA_DEVICE": ("cpu", "cuda")}


def test_edit_keeps_crlf_comments_export_and_quotes():
    data = b'# GPU\r\nexport VL_JEPA_DEVICE="cpu"  # cpu|cuda\r\nVL_JEPA_FP16=0\r\n'
    out, changes = edit_env(data, {"VL_JEPA_DEVICE": "cuda", "VL_JEPA_FP16": "1"})
    assert out == b'# GPU\r\nexport VL_JEPA_DEVICE="cuda"  # cpu|cuda\r\nVL_JEPA_FP16=1\r\n'
    assert set(changes) == {"VL_JEPA_DEVICE", "VL_JEPA_FP16"}


def test_edit_appends_a_missing_key_and_leaves_a_set_one():
    out, changes = edit_env(b"A=1", {"A": "1", "EMBEDDING_GUARD_DIM": "384"})
    assert out == b"A=1\nEMBEDDING_GUARD_DIM=384\n" and changes == {"EMBEDDING_GUARD_DIM": (None, "384")}


def test_edit_refuses_a_file_that_is_not_utf8():
    with pytest.raises(RemediationError, match="not UTF-8"):
        edit_env(b"A=\xff\n", {"A": "1"}, source="config/jetson.env")


@given(st.sampled_from(["cpu", "cuda", "0", "1", "tensorrt", "384", "collect_game", "a b", "x#y", "$HOME"]))
def test_edit_sets_exactly_the_value_asked_for(value):
    out, _ = edit_env(SAMPLE_ENV.read_bytes(), {"VL_JEPA_DEVICE": value, "EMBEDDING_GUARD_MODE": value})
    env = EnvFile.parse(out.decode())
    before = EnvFile.parse(SAMPLE_ENV.read_text()).as_dict()
    assert env.get("VL_JEPA_DEVICE") == value and env.get("EMBEDDING_GUARD_MODE") == value
    assert {k: v for k, v in env.as_dict().items() if k not in ("VL_JEPA_DEVICE", "EMBEDDING_GUARD_MODE")} == {
        k: v for k, v in before.items() if k not in ("VL_JEPA_DEVICE", "EMBEDDING_GUARD_MODE")
    }


def test_image_refs_and_backup_tags():
    assert split_ref("remed/vl_jepa:latest") == ("remed/vl_jepa", "latest")
    assert split_ref("localhost:5000/vl_jepa") == ("localhost:5000/vl_jepa", "latest")
    assert split_ref("localhost:5000/vl_jepa:r36") == ("localhost:5000/vl_jepa", "r36")
    assert backup_tag("Vl_Jepa", "2026/11 30") == "jetson-hil-backup/vl_jepa:2026-11-30"


# ----------------------------------------------------------------------------------- real signals, this process


def _wait_for(condition, timeout_s: float = 10.0) -> None:
    """Waits for a signal's handler to have run: a process-directed signal may land on another thread of this
    process, and on a busy machine the handler runs later than a fixed busy loop lasts. A hang guard only."""
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.001)


def test_sigterm_becomes_an_interrupt_inside_the_block_only():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as caught, terminate_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        _wait_for(lambda: False)  # the handler raises out of the wait
    assert isinstance(caught.value, KeyboardInterrupt) and "SIGTERM" in str(caught.value)
    assert signal.getsignal(signal.SIGTERM) == before


def test_signals_wait_until_the_restore_is_done():
    finished = []
    with pytest.raises(KeyboardInterrupt, match="SIGINT received while restoring"), held_interrupts() as noted:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        _wait_for(lambda: len(noted) == 2)
        finished.append(list(noted))
    assert finished == [[signal.SIGINT, signal.SIGTERM]]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_held_during_restore_is_raised_as_terminated_after():
    with pytest.raises(Terminated), held_interrupts() as noted:
        os.kill(os.getpid(), signal.SIGTERM)
        _wait_for(lambda: bool(noted))


@pytest.mark.parametrize("module", ["jetson_hil.backup", "jetson_hil.remediate", "jetson_hil.interrupts"])
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0
