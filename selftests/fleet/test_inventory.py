"""Fleet inventories (jetson_hil.inventory): --device values, fleet TOML, Ansible INI and YAML, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from jetson_hil.inventory import FleetDevice, InventoryError, fleet, from_choice, load_inventory

PROFILE = """[device]
name = "{name}"
host = "docker://jetson-sim-{name}"
"""


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    for name in ("orin-a", "orin-b"):
        (tmp_path / f"{name}.toml").write_text(PROFILE.format(name=name))
    return tmp_path


def test_device_values_name_sims_local_and_profiles(profiles):
    devices = fleet(["sim:sim2", "sim", "local", str(profiles / "orin-a.toml")], None)
    assert [(d.name, d.choice) for d in devices] == [
        ("sim2", "sim:sim2"),
        ("sim1", "sim:sim1"),
        ("local", "local"),
        ("orin-a", str(profiles / "orin-a.toml")),
    ]
    assert [d.sim_name for d in devices] == ["sim2", "sim1", None, None]


def test_a_name_given_twice_names_both_sources(profiles):
    (profiles / "copy.toml").write_text(PROFILE.format(name="orin-a"))
    with pytest.raises(InventoryError, match=r"'orin-a' is given twice .*orin-a.toml.*copy.toml"):
        fleet([str(profiles / "orin-a.toml"), str(profiles / "copy.toml")], None)


def test_an_unreadable_profile_is_named_by_its_stem(tmp_path):
    assert from_choice(str(tmp_path / "missing-one.toml")).name == "missing-one"


def test_fleet_toml_with_defaults_relative_paths_and_overrides(profiles):
    path = profiles / "fleet.toml"
    path.write_text(
        '[defaults]\nprofile = "orin-a.toml"\n\n'
        '[devices.lab-1]\nhost = "ssh://jetson@10.0.0.5"\nmqtt_url = "mqtt://10.0.0.5:1883"\n\n'
        '[devices.lab-2]\nprofile = "orin-b.toml"\n\n'
        '[devices.sim4]\nprofile = "sim:sim4"\n'
    )
    devices = load_inventory(path)
    assert [d.name for d in devices] == ["lab-1", "lab-2", "sim4"]
    assert devices[0] == FleetDevice(
        "lab-1",
        str(profiles / "orin-a.toml"),
        host="ssh://jetson@10.0.0.5",
        mqtt_url="mqtt://10.0.0.5:1883",
        source=f"{path}: devices.lab-1",
    )
    assert devices[1].choice == str(profiles / "orin-b.toml") and devices[1].host is None
    assert devices[2].choice == "sim:sim4"


@pytest.mark.parametrize(
    "text, message",
    [
        ("[devices.a]\nhost = 'ssh://x'\n", r"devices\.a: no profile; set profile"),
        ("[devices.a]\nprofile = 'x.toml'\nport = 22\n", r"unknown key\(s\) port; allowed: profile, host"),
        ("[device.a]\nprofile = 'x.toml'\n", r"unknown table\(s\) device;"),
        ("[defaults]\nprofile = 'x.toml'\n", r"no devices; add a \[devices\.NAME\] table"),
        ("[devices.a]\nprofile = 3\n", r"profile = 3 must be a non-empty string"),
        ("[devices.'a b']\nprofile = 'x.toml'\n", r"device name 'a b' must be"),
        ("[devices.a\nprofile", r"not valid TOML"),
    ],
)
def test_fleet_toml_errors_are_one_line_naming_the_file(tmp_path, text, message):
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    with pytest.raises(InventoryError, match=message) as info:
        load_inventory(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


ANSIBLE_INI = """
# a lab's inventory, as testinfra reads it
[orins]
orin[01:02] ansible_host=10.0.0.{{n}} ansible_user=jetson
orin03 ansible_host=10.0.0.9 ansible_port=2222 ansible_ssh_private_key_file=keys/lab jetson_hil_profile=orin-b.toml

[orins:vars]
jetson_hil_profile=orin-a.toml
jetson_hil_mqtt_url="mqtt://broker.lab:1883"

[sims]
sim2 ansible_connection=docker ansible_host=jetson-sim-sim2 jetson_hil_profile=sim:sim2

[lab:children]
orins

[lab:vars]
jetson_hil_docker_url=ssh://jetson@gateway

[other]
printer ansible_host=10.0.0.200
"""


def test_ansible_ini_merges_group_vars_ranges_and_connection(profiles):
    path = profiles / "hosts"
    path.write_text(ANSIBLE_INI)
    devices = {d.name: d for d in load_inventory(path)}
    assert list(devices) == ["orin01", "orin02", "orin03", "sim2"]  # the printer sets no profile
    assert devices["orin01"].host == "ssh://jetson@10.0.0.{{n}}"
    assert devices["orin01"].choice == str(profiles / "orin-a.toml")
    assert devices["orin01"].mqtt_url == "mqtt://broker.lab:1883"
    assert devices["orin01"].docker_url == "ssh://jetson@gateway"  # from the parent group lab
    assert devices["orin03"].choice == str(profiles / "orin-b.toml")  # host var over group var
    assert devices["orin03"].host == "ssh://10.0.0.9:2222"
    assert devices["orin03"].ssh_identity == str(profiles / "keys" / "lab")
    assert devices["sim2"].host == "docker://jetson-sim-sim2" and devices["sim2"].choice == "sim:sim2"


ANSIBLE_YAML = """
all:
  vars:
    jetson_hil_profile: orin-a.toml
  children:
    jetsons:
      hosts:
        nano-1:
          ansible_host: 192.168.1.10
          ansible_user: ubuntu
        nano-2:
          ansible_connection: local
      vars:
        jetson_hil_mqtt_url: mqtt://192.168.1.1:1883
    sims:
      hosts:
        sim3:
          jetson_hil_profile: sim:sim3
"""


def test_ansible_yaml_inherits_all_vars_and_children(profiles):
    path = profiles / "inventory.yml"
    path.write_text(ANSIBLE_YAML)
    devices = {d.name: d for d in load_inventory(path)}
    assert list(devices) == ["nano-1", "nano-2", "sim3"]
    assert devices["nano-1"].host == "ssh://ubuntu@192.168.1.10"
    assert devices["nano-1"].mqtt_url == "mqtt://192.168.1.1:1883"
    assert devices["nano-2"].host == "local://"
    assert devices["sim3"].choice == "sim:sim3" and devices["sim3"].mqtt_url is None


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("hosts", "[all]\nbox ansible_host=1.2.3.4\n", r"no host sets jetson_hil_profile"),
        ("hosts", "[all:vars]\nnot a pair\n", r"hosts:2: expected key=value in \[all:vars\]"),
        ("hosts", "[all:weird]\nx\n", r"unknown section kind 'weird'"),
        ("hosts", "[g]\nbox ansible_connection=winrm jetson_hil_profile=a.toml\n", r"ansible_connection=winrm"),
        ("inv.yml", "- a\n- b\n", r"a mapping of groups"),
        ("inv.yml", "all: [\n", r"not valid YAML"),
    ],
)
def test_ansible_errors_name_the_file(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InventoryError, match=message) as info:
        load_inventory(path)
    assert str(path) in str(info.value)


def test_a_missing_inventory_says_so(tmp_path):
    with pytest.raises(InventoryError, match=r"cannot read the inventory"):
        load_inventory(tmp_path / "nope.toml")


def test_the_simulated_fleet_inventory_reads_back(tmp_path, monkeypatch):
    from jetson_hil.sim import fleet as sim_fleet
    from jetson_hil.sim.simulator import SimError

    monkeypatch.setenv("JETSON_HIL_HOME", str(tmp_path))
    assert sim_fleet.names(3, first=2) == ["sim2", "sim3", "sim4"]
    with pytest.raises(SimError, match="at least 1"):
        sim_fleet.names(0)
    path = sim_fleet.write_inventory(sim_fleet.names(2))
    assert path == tmp_path / "sim" / "fleet.toml"
    devices = load_inventory(path)
    assert [(d.name, d.choice) for d in devices] == [
        ("sim1", str(tmp_path / "sim" / "sim1" / "device.toml")),
        ("sim2", str(tmp_path / "sim" / "sim2" / "device.toml")),
    ]
