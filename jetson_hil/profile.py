"""The device profile: one TOML file that says where the device is and what "healthy" means for it.

A profile is read and validated once (`load_profile`) into frozen dataclasses, so the rest of the suite
never re-checks a value. Every problem is a `ProfileError` whose message names the file, the dotted
field, the value seen and what is allowed, and unknown keys are errors so a typo cannot silently fall
back to a default:

>>> load_profile("devices/x.toml")                                      # doctest: +SKIP
ProfileError: devices/x.toml: limits.min_rate_hz = -1: must be a number > 0

Everything except ``[device] name`` has a default; see docs/device-profile.md for every field.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jetson_hil.toml_compat import tomllib

__all__ = [
    "AgentSettings",
    "ComposeSettings",
    "ContainerSettings",
    "DeviceProfile",
    "DeviceSettings",
    "Expectations",
    "FieldPaths",
    "Limits",
    "MqttSettings",
    "MqttUrl",
    "PlanB",
    "ProfileError",
    "TopicSettings",
    "field_docs",
    "load_profile",
    "parse_mqtt_url",
    "profile_from_dict",
]


class ProfileError(ValueError):
    """A device profile that cannot be used; the message names file, field, value and what is allowed."""

    def __init__(self, source: str, field_name: str | None, value: Any, reason: str):
        self.source = source
        self.field = field_name
        self.value = value
        self.reason = reason
        if field_name is None:
            message = f"{source}: {reason}"
        elif value is _MISSING:
            message = f"{source}: {field_name}: {reason}"
        else:
            message = f"{source}: {field_name} = {_show(value)}: {reason}"
        super().__init__(message)


class _Invalid(Exception):
    """Raised by a field check with the 'what is allowed' part of the message."""


_MISSING = object()


URL_PASSWORD = re.compile(r"(://[^/@\s:]*):([^/\s]*)@")
"""The user and password of a URL (``mqtt://user:pw@host``): group 1 ends with the user, group 2 is the password."""


def hide_url_password(text: str) -> str:
    """`text` with the password of every URL in it as ``***``.

    >>> hide_url_password("MQTT_URL=mqtt://hil:s3cr@t@broker:1883/x")
    'MQTT_URL=mqtt://hil:***@broker:1883/x'
    """
    return URL_PASSWORD.sub(r"\1:***@", text)


def _show(value: Any) -> str:
    """A value the way it is written in TOML, so the message can be matched against the file; a password in
    a URL (``mqtt://user:pw@host``) is shown as ``***``: the message reaches terminals, logs and reports."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(hide_url_password(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_show(v)}" for k, v in value.items()) + "}"
    return str(value)


# ----------------------------------------------------------------------------------------------- checks

_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_HOSTNAME = r"(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])"
_USER = r"[A-Za-z0-9_.][A-Za-z0-9_.-]*"
_SSH_URL = re.compile(rf"^ssh://(?:(?P<user>{_USER})@)?(?P<host>{_HOSTNAME})(?::(?P<port>\d{{1,5}}))?$")
_PARAMIKO_URL = re.compile(rf"^paramiko://(?:{_USER}@)?{_HOSTNAME}(?::(?P<port>\d{{1,5}}))?$")
_DOCKER_HOST_URL = re.compile(rf"^docker://(?:{_USER}@)?{_NAME}$")
_TCP_URL = re.compile(rf"^tcp://{_HOSTNAME}:(?P<port>\d{{1,5}})$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SSH_OPTION = re.compile(r"^[A-Za-z][A-Za-z0-9]*=\S.*$")
_DEVICE_STRING = re.compile(r"^(?:cuda(?::\d+)?|cpu)$")
_MQTT_URL = re.compile(rf"^(?P<scheme>mqtts?)://(?P<host>{_HOSTNAME})(?::(?P<port>\d{{1,5}}))?/?$")


def _port_ok(port: str | None) -> bool:
    return port is None or 1 <= int(port) <= 65535


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("must be a string")
    return value


def _one_of(*allowed: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in allowed:
            raise _Invalid("must be one of " + ", ".join(json.dumps(a) for a in allowed))
        return value

    return check


def _name(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(_NAME, value):
        raise _Invalid("must be a name of letters, digits, '_', '.', '-' (starting with a letter or digit)")
    return value


def _optional_name(value: Any) -> str:
    return "" if value == "" else _name(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("must be true or false")
    return value


def _int(low: int, high: int | None = None) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
        if ok and high is not None:
            ok = value <= high
        if not ok:
            raise _Invalid(f"must be an integer >= {low}" + (f" and <= {high}" if high is not None else ""))
        return value

    return check


def _number(low: float, *, strict: bool = False, high: float | None = None) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (value > low if strict else value >= low)
        if ok and high is not None:
            ok = value <= high
        if not ok:
            bound = f"> {low:g}" if strict else f">= {low:g}"
            raise _Invalid(f"must be a number {bound}" + (f" and <= {high:g}" if high is not None else ""))
        return float(value)

    return check


def _absolute_path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise _Invalid("must be an absolute path on the device (starting with '/')")
    return value


def _relative_path(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or value.startswith("/"):
        raise _Invalid("must be a non-empty path relative to compose.project_dir")
    return value


def _env_name(value: Any) -> str:
    if value == "":
        return ""
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise _Invalid('must be "" or an environment variable name (letters, digits, "_")')
    return value


def _dotted(value: Any) -> str:
    if not isinstance(value, str) or not value or any(not p or p != p.strip() for p in value.split(".")):
        raise _Invalid('must be a dotted path like "a.b.c" (no empty parts, no spaces)')
    return value


def _topic(value: Any) -> str:
    if not isinstance(value, str) or not value or "+" in value or "#" in value or "\x00" in value:
        raise _Invalid("must be a non-empty MQTT topic without wildcards (+, #)")
    return value


def _host_url(value: Any) -> str:
    allowed = "must be a testinfra URL: local://, ssh://[user@]host[:port], docker://name, or replay://PATH"
    if not isinstance(value, str):
        raise _Invalid(allowed)
    if value == "local://":
        return value
    if value.startswith("replay://") and len(value) > len("replay://"):  # a real capture set (jetson_hil.replay)
        return value
    for pattern in (_SSH_URL, _PARAMIKO_URL):
        m = pattern.match(value)
        if m:
            if not _port_ok(m.group("port")):
                raise _Invalid("port must be 1..65535")
            return value
    if _DOCKER_HOST_URL.match(value):
        return value
    raise _Invalid(allowed)


def _docker_url(value: Any) -> str:
    allowed = "must be a DOCKER_HOST URL: unix:///path, tcp://host:port, ssh://[user@]host[:port]"
    if not isinstance(value, str):
        raise _Invalid(allowed)
    if value == "":  # the environment's engine: DOCKER_HOST, the docker context, the local socket
        return value
    if value.startswith("unix:///") and len(value) > len("unix:///"):
        return value
    for pattern in (_TCP_URL, _SSH_URL):
        m = pattern.match(value)
        if m:
            if not _port_ok(m.group("port")):
                raise _Invalid("port must be 1..65535")
            return value
    raise _Invalid(allowed)


def _ssh_options(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and _SSH_OPTION.match(v) for v in value):
        raise _Invalid('must be a list of ssh -o options "Key=value", e.g. ["StrictHostKeyChecking=no"]')
    return tuple(value)


def _services(value: Any) -> tuple[str, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and re.fullmatch(_NAME, v) for v in value)
        or len(set(value)) != len(value)
    ):
        raise _Invalid("must be a non-empty list of distinct compose service names")
    return tuple(value)


def _compose_command(value: Any) -> str:
    return _one_of("docker compose", "docker-compose")(value)


def _device_string(value: Any) -> str:
    if not isinstance(value, str) or not _DEVICE_STRING.match(value):
        raise _Invalid('must be "cuda", "cuda:N" or "cpu"')
    return value


def _command_word(value: Any) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() or not c.isprintable() for c in value):
        raise _Invalid("must be a command name or an absolute path, without spaces")
    return value


def _regex(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("must be a non-empty regular expression")
    try:
        re.compile(value)
    except re.error as exc:
        raise _Invalid(f"must be a regular expression ({exc})") from None
    return value


# -------------------------------------------------------------------------------------------- MQTT URL


@dataclass(frozen=True)
class MqttUrl:
    """A parsed broker URL: ``mqtt://host[:port]`` (default 1883) or ``mqtts://host[:port]`` (8883)."""

    host: str
    port: int
    tls: bool

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_mqtt_url(text: str) -> MqttUrl:
    """Parses a broker URL; raises ValueError naming what is allowed (no credentials inline)."""
    m = _MQTT_URL.match(text) if isinstance(text, str) else None
    if not m or not _port_ok(m.group("port")):
        raise ValueError(
            "must be mqtt://host[:port] or mqtts://host[:port] (port 1..65535; credentials go in "
            "mqtt.username_env / mqtt.password_env, never in the URL)"
        )
    tls = m.group("scheme") == "mqtts"
    host = m.group("host")
    if host.startswith("["):
        host = host[1:-1]
    port = int(m.group("port")) if m.group("port") else (8883 if tls else 1883)
    return MqttUrl(host=host, port=port, tls=tls)


def _mqtt_url(value: Any) -> MqttUrl:
    if isinstance(value, MqttUrl):
        return value
    try:
        return parse_mqtt_url(value)
    except ValueError as exc:
        raise _Invalid(str(exc)) from None


# -------------------------------------------------------------------------------------------- sections


def _f(default: Any, check: Callable[[Any], Any], doc: str = "") -> Any:
    """A profile field: its default, its check (which also converts), and a one-line doc."""
    return field(default=default, metadata={"check": check, "doc": doc})


@dataclass(frozen=True)
class DeviceSettings:
    """[device]: where the device is and how to reach it."""

    name: str = _f(None, _name, "a short name for the device, used in reports and the device lease")
    host: str = _f("local://", _host_url, "testinfra URL of the device host")
    docker_url: str = _f(
        "", _docker_url, "DOCKER_HOST of the device's engine; \"\": the environment's (jetson_hil.docker_endpoint)"
    )
    sudo: bool = _f(True, _bool, "use sudo -n for privileged commands when not root")
    ssh_identity: str = _f("", _string, "private key file for ssh:// host and docker URLs")
    ssh_options: tuple[str, ...] = _f((), _ssh_options, "extra ssh -o options")
    ssh_config: str = _f("", _string, "ssh_config file for ssh:// host and docker URLs (ssh -F)")
    kind: str = _f("jetson", _one_of("jetson", "dgpu"), "jetson (tegrastats) or dgpu (discrete GPU host)")
    simulator: str = _f("", _optional_name, "name of the simulated device this profile points at")

    @property
    def ssh_identity_path(self) -> str:
        """ssh_identity with ``~`` expanded on the machine running the suite ("" when unset)."""
        return os.path.expanduser(self.ssh_identity) if self.ssh_identity else ""

    @property
    def ssh_config_path(self) -> str:
        """ssh_config with ``~`` expanded on the machine running the suite ("" when unset)."""
        return os.path.expanduser(self.ssh_config) if self.ssh_config else ""

    @property
    def transport(self) -> str:
        """The host URL's scheme: local, ssh, paramiko or docker."""
        return self.host.split("://", 1)[0]


@dataclass(frozen=True)
class ComposeSettings:
    """[compose]: the agents' compose project on the device."""

    project_dir: str = _f("/home/jetson/agents", _absolute_path, "compose project directory on the device")
    command: str = _f("docker compose", _compose_command, "compose command on the device")
    services: tuple[str, ...] = _f(
        ("vl_jepa", "embedding_guard", "scene", "policy"), _services, "services the runbook restarts"
    )
    env_file: str = _f("config/jetson.env", _relative_path, "env file of the agents")
    dockerfile: str = _f("docker/vl_jepa/Dockerfile", _relative_path, "Dockerfile of the vl_jepa image")
    requirements: str = _f("docker/vl_jepa/requirements.txt", _relative_path, "requirements of that image")
    design_doc: str = _f(
        "docs/plans/2026-02-01-embeddings-first-vision-design.md", _relative_path, "design doc to update"
    )

    def path(self, relative: str) -> str:
        """An absolute path on the device for a path relative to the project directory."""
        return self.project_dir.rstrip("/") + "/" + relative

    @property
    def env_file_path(self) -> str:
        return self.path(self.env_file)

    @property
    def dockerfile_path(self) -> str:
        return self.path(self.dockerfile)

    @property
    def requirements_path(self) -> str:
        return self.path(self.requirements)

    @property
    def design_doc_path(self) -> str:
        return self.path(self.design_doc)


@dataclass(frozen=True)
class ContainerSettings:
    """[containers]: container names of the services the suite looks into."""

    agent: str = _f("vl_jepa_agent", _name, "container of the vl_jepa service")
    guard: str = _f("embedding_guard", _name, "container of the embedding_guard service")
    probe_dir: str = _f("/tmp/jetson-hil", _absolute_path, "where probes are copied inside the agent")


@dataclass(frozen=True)
class AgentSettings:
    """[agents]: how the agents run. ``container``: the runbook's compose project under Docker. ``process``: host
    processes (e.g. systemd services on a device without Docker): Task 2's probe then runs on the host with the
    agents' python, the agent is found by its command line, and the container-only checks skip saying why."""

    mode: str = _f("container", _one_of("container", "process"), "container (Docker Compose) or process (host)")
    python: str = _f("python3", _command_word, "the agents' python on the host (process mode: runs Task 2's probe)")
    process_pattern: str = _f(
        r"vl_jepa\.py", _regex, "regular expression on a host process's command line that finds vl_jepa"
    )

    @property
    def host_processes(self) -> bool:
        """True when the agents run as host processes: there is no container to check."""
        return self.mode == "process"


@dataclass(frozen=True)
class MqttSettings:
    """[mqtt]: the broker, and the names of the environment variables holding its credentials."""

    url: MqttUrl = _f(MqttUrl("127.0.0.1", 1883, False), _mqtt_url, "broker URL")
    username_env: str = _f("", _env_name, "environment variable holding the broker user name")
    password_env: str = _f("", _env_name, "environment variable holding the broker password")
    ca_file: str = _f("", _string, "CA certificate (PEM) of the broker, mqtts:// only; \"\": the system's CAs")
    cert_file: str = _f("", _string, "client certificate (PEM) the broker asks for, mqtts:// only")
    key_file: str = _f("", _string, "private key (PEM) of cert_file")

    def tls_paths(self) -> dict[str, str]:
        """ca_file, cert_file and key_file with ``~`` expanded on the machine running the suite ("" when unset)."""
        return {k: os.path.expanduser(v) if v else "" for k, v in self.tls_files().items()}

    def tls_files(self) -> dict[str, str]:
        return {"ca_file": self.ca_file, "cert_file": self.cert_file, "key_file": self.key_file}

    def credentials(self, env: Mapping[str, str] | None = None) -> tuple[str, str | None] | None:
        """(user, password) read from the named environment variables, or None when none are named.

        A named variable that is not set is a ProfileError naming it (a silent anonymous login would
        fail later with a much less helpful "not authorised").
        """
        env = os.environ if env is None else env
        if not self.username_env:
            return None
        values: list[str | None] = []
        for key in ("username_env", "password_env"):
            var = getattr(self, key)
            if not var:
                values.append(None)
                continue
            if var not in env:
                raise ProfileError("environment", f"mqtt.{key}", var, f"environment variable {var} is not set")
            values.append(env[var])
        return values[0] or "", values[1]


@dataclass(frozen=True)
class TopicSettings:
    """[topics]: the MQTT topics the agents publish on."""

    embeddings: str = _f("vision/embeddings", _topic, "image embeddings from vl_jepa")
    guard: str = _f("vision/guard", _topic, "game / non-game verdicts from embedding_guard")
    understanding: str = _f("progress/understanding", _topic, "scene understanding")
    actuation: str = _f("act/result", _topic, "policy actuation results")

    def all(self) -> tuple[str, ...]:
        """Every topic, in a stable order, without duplicates."""
        return tuple(dict.fromkeys(getattr(self, f.name) for f in dataclasses.fields(self)))


@dataclass(frozen=True)
class FieldPaths:
    """[fields]: dotted paths of the values the checks read inside the JSON payloads."""

    embedding: str = _f("embedding", _dotted, "embedding vector in vision/embeddings")
    seq: str = _f("seq", _dotted, "frame sequence number")
    ts: str = _f("ts", _dotted, "publisher timestamp (seconds since the epoch)")
    dim: str = _f("dim", _dotted, "declared embedding dimension")
    device: str = _f("device", _dotted, "torch device the agent ran on")
    dtype: str = _f("dtype", _dotted, "dtype of the computation (float16 when fp16)")
    backend: str = _f("backend", _dotted, "pytorch or tensorrt")
    model: str = _f("model", _dotted, "model name")
    understanding_embeddings: str = _f("embeddings", _dotted, "embeddings block in progress/understanding")
    location: str = _f("locations.current", _dotted, "current location in progress/understanding")
    act_ok: str = _f("ok", _dotted, "success flag in act/result")
    act_latency_ms: str = _f("latency_ms", _dotted, "actuation latency in act/result")


@dataclass(frozen=True)
class Expectations:
    """[expect]: what a healthy agent reports."""

    dim: int = _f(768, _int(1), "embedding dimension")
    backend: str = _f("pytorch", _one_of("pytorch", "tensorrt"), "inference backend")
    fp16: bool = _f(True, _bool, "half precision expected")
    device: str = _f("cuda", _device_string, "torch device expected in payloads")
    path: str = _f("any", _one_of("any", "plan_a", "plan_b"), "runbook path the team requires (any: either plan)")


@dataclass(frozen=True)
class Limits:
    """[limits]: the numbers the measurements are held to."""

    window_s: float = _f(10.0, _number(0, strict=True), "evidence window in seconds")
    min_rate_hz: float = _f(4.0, _number(0, strict=True), "minimum embeddings rate")
    max_latency_ms: float = _f(500.0, _number(0, strict=True), "maximum end-to-end latency")
    gr3d_min_percent: float = _f(1.0, _number(0, high=100), "GPU load that counts as active (0 on a dgpu by default)")
    max_seq_gap: int = _f(2, _int(0), "most seq numbers missing between consecutive messages")
    norm_min: float = _f(0.01, _number(0), "smallest sane embedding L2 norm")
    norm_max: float = _f(1000.0, _number(0, strict=True), "largest sane embedding L2 norm")
    max_location_changes_per_min: float = _f(12.0, _number(0), "location flaps tolerated per minute")
    min_actuation_success: float = _f(0.95, _number(0, high=1), "fraction of act/result with ok true")
    baseline_tolerance: float = _f(0.2, _number(0), "relative drift from a baseline before failing")


@dataclass(frozen=True)
class PlanB:
    """[plan_b]: the TensorRT fallback of runbook Task 5."""

    engine_path: str = _f(
        "/mnt/ssd/models/vl_jepa/dinov2_small_224_f1_fp16.engine", _absolute_path, "TensorRT engine file"
    )
    input_size: int = _f(224, _int(1), "engine input size in pixels")
    min_centroid_samples: int = _f(40, _int(1), "samples per centroid class to collect")


_SECTIONS: dict[str, type] = {
    "device": DeviceSettings,
    "compose": ComposeSettings,
    "containers": ContainerSettings,
    "agents": AgentSettings,
    "mqtt": MqttSettings,
    "topics": TopicSettings,
    "fields": FieldPaths,
    "expect": Expectations,
    "limits": Limits,
    "plan_b": PlanB,
}


@dataclass(frozen=True)
class DeviceProfile:
    """A validated device profile; build one with `load_profile` (or `profile_from_dict`)."""

    source: str
    device: DeviceSettings
    compose: ComposeSettings = field(default_factory=ComposeSettings)
    containers: ContainerSettings = field(default_factory=ContainerSettings)
    agents: AgentSettings = field(default_factory=AgentSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    topics: TopicSettings = field(default_factory=TopicSettings)
    fields: FieldPaths = field(default_factory=FieldPaths)
    expect: Expectations = field(default_factory=Expectations)
    limits: Limits = field(default_factory=Limits)
    plan_b: PlanB = field(default_factory=PlanB)

    @property
    def name(self) -> str:
        return self.device.name

    def credentials(self, env: Mapping[str, str] | None = None) -> tuple[str, str | None] | None:
        """The broker credentials; see `MqttSettings.credentials`."""
        try:
            return self.mqtt.credentials(env)
        except ProfileError as exc:
            raise ProfileError(self.source, exc.field, exc.value, exc.reason) from None

    def with_overrides(
        self,
        host: str | None = None,
        docker_url: str | None = None,
        mqtt_url: str | None = None,
        window_s: float | None = None,
        *,
        ssh_identity: str | None = None,
        ssh_config: str | None = None,
        ssh_options: tuple[str, ...] | None = None,
        sudo: bool | None = None,
    ) -> DeviceProfile:
        """A copy with command-line overrides applied, each validated like the file's value."""
        source = f"{self.source} (override)"
        device, mqtt, limits = self.device, self.mqtt, self.limits
        links = {"ssh_identity": (ssh_identity, _string), "ssh_config": (ssh_config, _string), "sudo": (sudo, _bool)}
        links["ssh_options"] = (None if ssh_options is None else list(ssh_options), _ssh_options)
        for key, (value, check) in links.items():
            if value is not None:
                device = dataclasses.replace(device, **{key: _checked(source, f"device.{key}", value, check)})
        if host is not None:
            device = dataclasses.replace(device, host=_checked(source, "device.host", host, _host_url))
        if docker_url is not None:
            value = _checked(source, "device.docker_url", docker_url, _docker_url)
            device = dataclasses.replace(device, docker_url=value)
        if mqtt_url is not None:
            mqtt = dataclasses.replace(mqtt, url=_checked(source, "mqtt.url", mqtt_url, _mqtt_url))
        if window_s is not None:
            value = _checked(source, "limits.window_s", window_s, _number(0, strict=True))
            limits = dataclasses.replace(limits, window_s=value)
        return dataclasses.replace(self, device=device, mqtt=mqtt, limits=limits)


def _checked(source: str, name: str, value: Any, check: Callable[[Any], Any]) -> Any:
    try:
        return check(value)
    except _Invalid as exc:
        raise ProfileError(source, name, value, str(exc)) from None


def _unknown(source: str, dotted: str, value: Any, allowed: list[str], where: str) -> ProfileError:
    key = dotted.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return ProfileError(source, dotted, value, f"unknown key{hint} (allowed in {where}: {', '.join(allowed)})")


def _build_section(source: str, section: str, cls: type, table: Any) -> Any:
    if not isinstance(table, dict):
        raise ProfileError(source, section, table, f"must be a table [{section}]")
    specs = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in table.items():
        if key not in specs:
            raise _unknown(source, f"{section}.{key}", value, list(specs), f"[{section}]")
    values: dict[str, Any] = {}
    for name, spec in specs.items():
        if name in table:
            values[name] = _checked(source, f"{section}.{name}", table[name], spec.metadata["check"])
        elif spec.default is None:
            raise ProfileError(source, f"{section}.{name}", _MISSING, "required, missing")
    return cls(**values)


def profile_from_dict(data: Mapping[str, Any], source: str = "<profile>") -> DeviceProfile:
    """Validates already-parsed TOML data (a dict of tables) into a DeviceProfile."""
    for key, value in data.items():
        if key not in _SECTIONS:
            raise _unknown(source, key, value, list(_SECTIONS), "a profile")
    if "device" not in data:
        raise ProfileError(source, "device.name", _MISSING, "required, missing (no [device] table)")
    sections = {name: _build_section(source, name, cls, data.get(name, {})) for name, cls in _SECTIONS.items()}
    limits: Limits = sections["limits"]
    if limits.norm_max <= limits.norm_min:
        raise ProfileError(
            source, "limits.norm_max", limits.norm_max, f"must be > limits.norm_min ({limits.norm_min:g})"
        )
    mqtt: MqttSettings = sections["mqtt"]
    if mqtt.password_env and not mqtt.username_env:
        raise ProfileError(source, "mqtt.password_env", mqtt.password_env, "needs mqtt.username_env as well")
    for key, value in mqtt.tls_files().items():
        if value and not mqtt.url.tls:
            raise ProfileError(source, f"mqtt.{key}", value, "needs an mqtts:// broker URL (mqtt.url)")
    if bool(mqtt.cert_file) != bool(mqtt.key_file):
        key = "key_file" if mqtt.cert_file else "cert_file"
        raise ProfileError(source, f"mqtt.{key}", _MISSING, "required with mqtt.cert_file / mqtt.key_file (a pair)")
    if sections["device"].kind == "dgpu" and "gr3d_min_percent" not in (data.get("limits") or {}):
        # A discrete GPU runs a small encoder at a few Hz in well under 1 % of its time (an H200 read 0-1 % for a
        # healthy flow, docs/gpu-validation.md): its utilisation is reported, and the agent's own GPU use
        # (test_agent_process_computes_on_the_gpu) is the evidence, unless the profile sets a floor.
        sections["limits"] = replace(limits, gr3d_min_percent=0.0)
    return DeviceProfile(source=source, **sections)


def load_profile(path: str | os.PathLike[str]) -> DeviceProfile:
    """Reads and validates a TOML device profile; every problem is a ProfileError naming the file."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ProfileError(source, None, _MISSING, f"cannot read the profile: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProfileError(source, None, _MISSING, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(source, None, _MISSING, f"not valid TOML: {exc}") from None
    return profile_from_dict(data, source)


def field_docs() -> dict[str, list[tuple[str, str, Any, str]]]:
    """Every section's fields as (name, type, default, doc): the source of docs/device-profile.md."""
    out: dict[str, list[tuple[str, str, Any, str]]] = {}
    for section, cls in _SECTIONS.items():
        rows = []
        for f in dataclasses.fields(cls):
            rows.append((f.name, str(f.type), f.default, f.metadata["doc"]))
        out[section] = rows
    return out
