"""A fleet's devices, from ``--device`` values, a fleet TOML file or an Ansible inventory (INI or YAML).

Every source gives the same thing: an ordered list of `FleetDevice` (a unique name, the profile to load and
optional overrides), so one run can test many devices and name each one in test ids and the report.

A fleet file (TOML) names each device and its profile; relative paths are read from the file's folder::

    [defaults]                       # optional: keys every device inherits
    profile = "devices/example-orin-ssh.toml"

    [devices.orin-lab-1]
    host = "ssh://jetson@10.0.0.5"   # overrides, validated like the profile's own values
    docker_url = "ssh://jetson@10.0.0.5"
    mqtt_url = "mqtt://10.0.0.5:1883"

    [devices.sim2]
    profile = "sim:sim2"             # a simulated device; or "local" (devices/local.toml)

An Ansible inventory (as testinfra reads one) lists hosts; a host is a device when it or one of its groups
sets ``jetson_hil_profile``. ``ansible_connection``/``ansible_host``/``ansible_user``/``ansible_port`` become
the testinfra host URL, ``ansible_ssh_private_key_file`` the SSH key, and ``jetson_hil_docker_url`` /
``jetson_hil_mqtt_url`` the other overrides.

>>> [d.name for d in load_inventory("fleet.toml")]             # doctest: +SKIP
['orin-lab-1', 'sim2']
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jetson_hil.toml_compat import tomllib

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
DEVICE_KEYS = ("profile", "host", "docker_url", "mqtt_url", "ssh_identity")
PROFILE_VAR = "jetson_hil_profile"
RANGE = re.compile(r"\[(\d+):(\d+)\]")


class InventoryError(ValueError):
    """An inventory or a --device value that cannot name a fleet; the message names the file and the fix."""


@dataclass(frozen=True)
class FleetDevice:
    """One device of the fleet: its name (test ids, report, lease), where its profile is, and overrides.

    `choice` is what ``--device`` takes: ``local``, ``sim:NAME`` or a profile path (absolute once read from
    an inventory)."""

    name: str
    choice: str
    host: str | None = None
    docker_url: str | None = None
    mqtt_url: str | None = None
    ssh_identity: str | None = None
    source: str = "--device"

    @property
    def sim_name(self) -> str | None:
        """The simulated device this entry starts or uses, when it is one (``sim`` or ``sim:NAME``)."""
        if not self.choice.startswith("sim:"):
            return None
        return self.choice.partition(":")[2] or "sim1"


def _check_name(name: str, where: str) -> str:
    if not NAME.match(name):
        raise InventoryError(
            f"{where}: device name {name!r} must be 1-63 letters, digits, '.', '_' or '-' (it names the device "
            "in test ids and report paths)"
        )
    return name


def profile_name(path: Path) -> str:
    """The ``[device] name`` of a profile file, read without validating the rest (that happens once the run
    starts, with the full error); the file's stem when the name cannot be read."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        name = data.get("device", {}).get("name")
    except (OSError, ValueError, AttributeError):
        name = None
    return name if isinstance(name, str) and NAME.match(name) else path.stem


def from_choice(value: str, base: Path | None = None, source: str = "--device", name: str | None = None) -> FleetDevice:
    """A --device value (``local``, ``sim[:NAME]`` or a profile path) as a fleet entry; the name is the
    simulator's name, ``local``, or the profile's ``[device] name``."""
    value = value.strip()
    if not value:
        raise InventoryError(f"{source}: empty device; give a profile path, 'local' or 'sim[:NAME]'")
    if value == "sim" or value.startswith("sim:"):
        sim = value.partition(":")[2] or "sim1"
        return FleetDevice(_check_name(name or sim, source), f"sim:{_check_name(sim, source)}", source=source)
    if value == "local":
        return FleetDevice(_check_name(name or "local", source), "local", source=source)
    path = Path(value).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    if base is not None:
        path = path.resolve()
    return FleetDevice(_check_name(name or profile_name(path), source), str(path), source=source)


def unique(devices: Iterable[FleetDevice]) -> list[FleetDevice]:
    """The devices in order; a name given twice is an error naming both sources."""
    seen: dict[str, FleetDevice] = {}
    for d in devices:
        if d.name in seen:
            raise InventoryError(
                f"device name {d.name!r} is given twice ({seen[d.name].source}: {seen[d.name].choice}; "
                f"{d.source}: {d.choice}); give each device its own name ([device] name in its profile, or the "
                "inventory's host name)"
            )
        seen[d.name] = d
    return list(seen.values())


def _entry(name: str, values: Mapping[str, Any], base: Path, where: str) -> FleetDevice:
    unknown = sorted(set(values) - set(DEVICE_KEYS))
    if unknown:
        raise InventoryError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(DEVICE_KEYS)}")
    for key, value in values.items():
        if not isinstance(value, str) or not value:
            raise InventoryError(f"{where}: {key} = {value!r} must be a non-empty string")
    if "profile" not in values:
        raise InventoryError(
            f'{where}: no profile; set profile = "PATH" (or "sim:NAME", "local") here or in [defaults]'
        )
    entry = from_choice(values["profile"], base, where, name=_check_name(name, where))
    identity = values.get("ssh_identity")
    if identity:
        identity = str((base / Path(identity).expanduser()).resolve())
    return FleetDevice(
        entry.name, entry.choice, values.get("host"), values.get("docker_url"), values.get("mqtt_url"), identity, where
    )


def parse_fleet_toml(text: str, source: str, base: Path) -> list[FleetDevice]:
    """A fleet TOML file: ``[devices.NAME]`` tables (in file order) with an optional ``[defaults]``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"{source}: not valid TOML: {exc}") from None
    extra = sorted(set(data) - {"defaults", "devices"})
    if extra:
        raise InventoryError(
            f"{source}: unknown table(s) {', '.join(extra)}; a fleet file has [defaults] and [devices.NAME]"
        )
    defaults = data.get("defaults", {})
    devices = data.get("devices", {})
    if not isinstance(defaults, dict) or not isinstance(devices, dict) or not devices:
        raise InventoryError(f'{source}: no devices; add a [devices.NAME] table with profile = "PATH"')
    out = []
    for name, values in devices.items():
        if not isinstance(values, dict):
            raise InventoryError(f"{source}: devices.{name} must be a table")
        out.append(_entry(name, {**defaults, **values}, base, f"{source}: devices.{name}"))
    return unique(out)


# ------------------------------------------------------------------------------------------------- Ansible


def _expand(pattern: str) -> list[str]:
    """Ansible's numeric host ranges: ``jetson[01:03]`` -> jetson01, jetson02, jetson03."""
    m = RANGE.search(pattern)
    if not m:
        return [pattern]
    lo, hi = m.group(1), m.group(2)
    width = len(lo) if lo.startswith("0") else 0
    return [
        name
        for n in range(int(lo), int(hi) + 1)
        for name in _expand(pattern[: m.start()] + str(n).zfill(width) + pattern[m.end() :])
    ]


@dataclass
class _Ansible:
    """Hosts, groups and variables of an inventory, as Ansible merges them (all < parent < group < host)."""

    hosts: dict[str, dict[str, Any]]
    groups: dict[str, dict[str, Any]]  # group -> {"hosts": [..], "vars": {..}, "children": [..]}

    def group(self, name: str) -> dict[str, Any]:
        return self.groups.setdefault(name, {"hosts": [], "vars": {}, "children": []})

    def host_vars(self, host: str) -> dict[str, Any]:
        parents: dict[str, str] = {}
        for g, spec in self.groups.items():
            for child in spec["children"]:
                parents.setdefault(child, g)

        def depth(g: str) -> int:
            n, seen = 0, set()
            while g in parents and g not in seen:
                seen.add(g)
                g, n = parents[g], n + 1
            return n

        mine: set[str] = {g for g, spec in self.groups.items() if host in spec["hosts"]}
        frontier = list(mine)
        while frontier:
            g = frontier.pop()
            if g in parents and parents[g] not in mine:
                mine.add(parents[g])
                frontier.append(parents[g])
        merged: dict[str, Any] = dict(self.groups.get("all", {}).get("vars", {}))
        for g in sorted(mine - {"all"}, key=lambda g: (depth(g), g)):
            merged.update(self.groups[g]["vars"])
        merged.update(self.hosts[host])
        return merged


def _ini_value(text: str) -> Any:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" else text


def parse_ansible_ini(text: str, source: str) -> _Ansible:
    inv = _Ansible({}, {})
    section, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section, _, kind = line[1:-1].partition(":")
            kind = kind or "hosts"
            if kind not in ("hosts", "vars", "children"):
                raise InventoryError(f"{source}:{number}: unknown section kind {kind!r} in {line}")
            inv.group(section)
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise InventoryError(f"{source}:{number}: {exc}: {line}") from None
        if kind == "vars":
            key, sep, value = line.partition("=")
            if not sep:
                raise InventoryError(f"{source}:{number}: expected key=value in [{section}:vars]: {line}")
            inv.group(section)["vars"][key.strip()] = _ini_value(value.strip())
        elif kind == "children":
            inv.group(section)["children"].append(words[0])
            inv.group(words[0])
        else:
            values = {}
            for word in words[1:]:
                key, sep, value = word.partition("=")
                if not sep:
                    raise InventoryError(f"{source}:{number}: expected key=value after the host name: {word}")
                values[key] = value
            for host in _expand(words[0]):
                inv.hosts.setdefault(host, {}).update(values)
                inv.group(section)["hosts"].append(host)
    return inv


def parse_ansible_yaml(text: str, source: str) -> _Ansible:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InventoryError(f"{source}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise InventoryError(f"{source}: an Ansible YAML inventory is a mapping of groups (all: hosts: ...)")
    inv = _Ansible({}, {})

    def walk(name: str, spec: Any, where: str) -> None:
        group = inv.group(name)
        if spec is None:
            return
        if not isinstance(spec, dict):
            raise InventoryError(f"{source}: {where} must be a mapping with hosts, vars or children")
        for host_pattern, values in (spec.get("hosts") or {}).items():
            if values is not None and not isinstance(values, dict):
                raise InventoryError(f"{source}: {where}.hosts.{host_pattern} must be a mapping of variables")
            for host in _expand(str(host_pattern)):
                inv.hosts.setdefault(host, {}).update(values or {})
                group["hosts"].append(host)
        group["vars"].update(spec.get("vars") or {})
        for child, child_spec in (spec.get("children") or {}).items():
            group["children"].append(child)
            walk(child, child_spec, f"{where}.children.{child}")

    for name, spec in data.items():
        walk(name, spec, name)
    return inv


def _connection_url(name: str, v: Mapping[str, Any]) -> str | None:
    """testinfra's host URL from Ansible's connection variables (None when the inventory sets none)."""
    keys = ("ansible_connection", "ansible_host", "ansible_user", "ansible_port")
    if not any(k in v for k in keys):
        return None
    connection = str(v.get("ansible_connection", "ssh"))
    address = str(v.get("ansible_host", name))
    if connection == "local":
        return "local://"
    if connection in ("docker", "community.docker.docker"):
        return f"docker://{address}"
    if connection not in ("ssh", "paramiko", "smart"):
        raise InventoryError(
            f"host {name}: ansible_connection={connection} is not one the suite can use (ssh, paramiko, docker, local)"
        )
    scheme = "paramiko" if connection == "paramiko" else "ssh"
    user = f"{v['ansible_user']}@" if v.get("ansible_user") else ""
    port = f":{v['ansible_port']}" if v.get("ansible_port") else ""
    return f"{scheme}://{user}{address}{port}"


def ansible_devices(inv: _Ansible, source: str, base: Path) -> list[FleetDevice]:
    """Every host that sets jetson_hil_profile (itself or through a group), in inventory order."""
    out = []
    for host in inv.hosts:
        v = inv.host_vars(host)
        where = f"{source}: host {host}"
        if PROFILE_VAR not in v:
            continue
        try:
            url = _connection_url(host, v)
        except InventoryError as exc:
            raise InventoryError(f"{source}: {exc}") from None
        values = {"profile": str(v[PROFILE_VAR])}
        for key, var in (
            ("docker_url", "jetson_hil_docker_url"),
            ("mqtt_url", "jetson_hil_mqtt_url"),
            ("ssh_identity", "ansible_ssh_private_key_file"),
        ):
            if v.get(var):
                values[key] = str(v[var])
        if url:
            values["host"] = url
        out.append(_entry(host, values, base, where))
    if not out:
        raise InventoryError(
            f"{source}: no host sets {PROFILE_VAR}; add {PROFILE_VAR}=PATH to the device hosts or "
            "to a [group:vars] section"
        )
    return unique(out)


def load_inventory(path: str | Path) -> list[FleetDevice]:
    """The devices of a fleet TOML (``.toml``), an Ansible YAML (``.yml``/``.yaml``) or INI (anything else)."""
    path = Path(path).expanduser()
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError(f"{source}: cannot read the inventory: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InventoryError(f"{source}: not UTF-8 text") from None
    base = path.resolve().parent
    if path.suffix == ".toml":
        return parse_fleet_toml(text, source, base)
    if path.suffix in (".yml", ".yaml"):
        return ansible_devices(parse_ansible_yaml(text, source), source, base)
    return ansible_devices(parse_ansible_ini(text, source), source, base)


def fleet(device_values: Iterable[str], inventory: str | None) -> list[FleetDevice]:
    """The run's devices: each --device value in order, then the inventory's; names must be unique."""
    devices = [from_choice(v, source=f"--device {v}") for v in device_values]
    if inventory:
        devices += load_inventory(inventory)
    return unique(devices)


__all__ = ["FleetDevice", "InventoryError", "fleet", "from_choice", "load_inventory"]
