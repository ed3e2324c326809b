"""fixtures/ci_figures.py's pure parts: measurement properties per test, device facts as suite properties and
pytest-html Environment rows, one device and a fleet. The live run is selftests/report/test_junit_figures.py."""

from __future__ import annotations

from fixtures.ci_figures import device_facts, environment, measurement_properties, suite_properties

FACTS = {
    "profile": "orin", "kind": "jetson", "host": "ssh://jetson@orin", "model": "NVIDIA Jetson AGX Orin Developer Kit",
    "module": "AGX Orin 64GB", "l4t": "36.4.3", "jetpack": "6.2", "cuda_installed": "12.6.68",
    "containers": [{"name": "policy", "service": "policy", "image": "agents/policy:1"},
                   {"name": "vl_jepa_agent", "service": "vl_jepa", "image": "dustynv/l4t-pytorch:r36.4.0"}],
}  # fmt: skip


def test_each_measurement_of_the_test_becomes_its_properties():
    measured = [
        {"nodeid": "a", "name": "embeddings.rate_hz", "value": 4.9, "unit": "Hz", "low": 4.0, "high": None,
         "outcome": "pass"},
        {"nodeid": "b", "name": "latency.p95_ms", "value": 900.0, "unit": "ms", "low": None, "high": 500.0,
         "outcome": "fail"},
        {"nodeid": "b", "name": "seq.gaps", "value": None, "unit": "", "low": None, "high": 2, "outcome": "fail"},
    ]  # fmt: skip
    assert measurement_properties(measured, "b") == [
        ("measurement.latency.p95_ms", 900.0), ("measurement.latency.p95_ms.unit", "ms"),
        ("measurement.latency.p95_ms.high", 500.0), ("measurement.latency.p95_ms.outcome", "fail"),
        ("measurement.seq.gaps", None), ("measurement.seq.gaps.high", 2), ("measurement.seq.gaps.outcome", "fail"),
    ]  # fmt: skip
    assert measurement_properties(measured, "c") == []


def test_device_facts_name_the_module_release_and_the_agents_image():
    facts = device_facts("orin", FACTS)
    assert facts == {"name": "orin", "host": "ssh://jetson@orin", "module": "AGX Orin 64GB",
                     "model": "NVIDIA Jetson AGX Orin Developer Kit", "l4t": "36.4.3", "jetpack": "6.2",
                     "cuda": "12.6.68", "image": "dustynv/l4t-pytorch:r36.4.0"}  # fmt: skip
    unavailable = device_facts("x", {"l4t": None, "containers": "unavailable: no such container: vl_jepa_agent"})
    assert unavailable == {"name": "x", "l4t": "unknown", "image": "unavailable: no such container: vl_jepa_agent"}


def test_the_environment_table_describes_the_device_then_the_runner():
    metadata = {"Python": "3.11.7", "Platform": "Linux", "Packages": {"pytest": "9.2.0"}, "CI": "true"}
    environment(metadata, {"orin": device_facts("orin", FACTS)})
    assert list(metadata)[:3] == ["Device", "Host", "Module"] and metadata["L4T"] == "36.4.3"
    assert metadata["Agent image"] == "dustynv/l4t-pytorch:r36.4.0"
    assert metadata["Runner"] == {"Python": "3.11.7", "Platform": "Linux", "Packages": "pytest 9.2.0"}
    assert metadata["CI"] == "true" and list(metadata)[-1] == "CI"
    untouched = {"Python": "3.11.7"}
    environment(untouched, {})
    assert untouched == {"Python": "3.11.7"}


def test_a_fleet_keeps_one_row_and_one_property_prefix_per_device():
    devices = {"orin": device_facts("orin", FACTS), "nano": device_facts("nano", {"l4t": "<36.2>"})}
    metadata: dict = {}
    environment(metadata, devices)
    assert metadata["Device nano"] == {"Device": "nano", "L4T": "&lt;36.2&gt;"}
    assert ("device.orin.l4t", "36.4.3") in suite_properties(devices)
    assert ("device.nano.name", "nano") in suite_properties(devices)
    assert suite_properties({"orin": {"name": "orin", "l4t": "36.4.3"}}) == [("device.name", "orin"),
                                                                            ("device.l4t", "36.4.3")]
