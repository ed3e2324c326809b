"""Device profile: the documented format loads, defaults fill in, and every bad value is named."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from jetson_hil.profile import (
    DeviceProfile,
    MqttUrl,
    ProfileError,
    field_docs,
    load_profile,
    parse_mqtt_url,
    profile_from_dict,
)

ROOT = Path(__file__).resolve().parents[2]

# The format as the brief and the simulator write it, comments included.
FULL = """\
[device]
name = "sim1"
host = "docker://jetson-sim-sim1"         # testinfra URL: local://, ssh://user@host[:port], docker://name
docker_url = ""                            # DOCKER_HOST form; "": DOCKER_HOST, the docker context, the socket
sudo = true                                # use `sudo -n` for privileged commands when not root
ssh_identity = ""                          # optional key file for ssh:// (host and docker)
ssh_options = []                           # extra ssh -o options, e.g. ["StrictHostKeyChecking=no"]
kind = "jetson"                            # jetson | dgpu
simulator = ""                             # name of the simulated device, when this profile points at one

[compose]
project_dir = "/home/jetson/agents"
command = "docker compose"                 # or "docker-compose"
services = ["vl_jepa", "embedding_guard", "scene", "policy"]
env_file = "config/jetson.env"             # relative to project_dir
dockerfile = "docker/vl_jepa/Dockerfile"
requirements = "docker/vl_jepa/requirements.txt"
design_doc = "docs/plans/2026-02-01-embeddings-first-vision-design.md"

[containers]
agent = "vl_jepa_agent"
guard = "embedding_guard"                  # container names of the services
probe_dir = "/tmp/jetson-hil"              # where probes are copied inside the agent container

[mqtt]
url = "mqtt://127.0.0.1:1883"              # mqtt:// or mqtts://
username_env = ""                          # credentials by environment variable name, never inline
password_env = ""

[topics]
embeddings = "vision/embeddings"
guard = "vision/guard"
understanding = "progress/understanding"
actuation = "act/result"

[fields]                                   # dotted paths inside payloads
embedding = "embedding"
seq = "seq"
ts = "ts"
dim = "dim"
device = "device"
dtype = "dtype"
backend = "backend"
model = "model"
understanding_embeddings = "embeddings"
location = "locations.current"
act_ok = "ok"
act_latency_ms = "latency_ms"

[expect]
dim = 768
backend = "pytorch"                        # pytorch | tensorrt
fp16 = true
device = "cuda"

[limits]
window_s = 10.0                            # evidence window
min_rate_hz = 4.0
max_latency_ms = 500.0
gr3d_min_percent = 1.0
max_seq_gap = 2
norm_min = 0.01
norm_max = 1000.0
max_location_changes_per_min = 12
min_actuation_success = 0.95
baseline_tolerance = 0.2

[plan_b]
engine_path = "/mnt/ssd/models/vl_jepa/dinov2_small_224_f1_fp16.engine"
input_size = 224
min_centroid_samples = 40
"""


def write(tmp_path: Path, text: str, name: str = "x.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def minimal(**sections: str) -> str:
    """A profile with [device] name plus the given extra TOML lines per section."""
    text = '[device]\nname = "d1"\n' + sections.pop("device", "") + "\n"
    for section, body in sections.items():
        text += f"[{section}]\n{body}\n"
    return text


def error_for(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    return str(info.value).replace(str(path), "x.toml")


def test_full_format_loads(tmp_path: Path) -> None:
    p = load_profile(write(tmp_path, FULL))
    assert p.name == "sim1"
    assert p.device.host == "docker://jetson-sim-sim1" and p.device.transport == "docker"
    assert p.device.ssh_options == () and p.device.sudo is True
    assert p.compose.services == ("vl_jepa", "embedding_guard", "scene", "policy")
    assert p.compose.env_file_path == "/home/jetson/agents/config/jetson.env"
    assert p.mqtt.url == MqttUrl("127.0.0.1", 1883, False)
    assert p.topics.all() == ("vision/embeddings", "vision/guard", "progress/understanding", "act/result")
    assert p.fields.location == "locations.current"
    assert p.expect.dim == 768 and p.expect.fp16 is True
    assert p.limits.max_location_changes_per_min == 12.0
    assert isinstance(p.limits.max_location_changes_per_min, float)
    assert p.limits.max_seq_gap == 2 and isinstance(p.limits.max_seq_gap, int)
    assert p.plan_b.input_size == 224


def test_defaults_for_everything_but_name(tmp_path: Path) -> None:
    full = load_profile(write(tmp_path, FULL, "full.toml"))
    bare = load_profile(write(tmp_path, '[device]\nname = "sim1"\n', "bare.toml"))
    assert (
        dataclasses.replace(bare, source=full.source, device=dataclasses.replace(bare.device, host=full.device.host))
        == full
    )


def test_frozen(tmp_path: Path) -> None:
    p = load_profile(write(tmp_path, minimal()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.limits.window_s = 1.0  # type: ignore[misc]


def test_message_names_file_field_value_and_allowed(tmp_path: Path) -> None:
    assert error_for(tmp_path, minimal(limits="min_rate_hz = -1")) == (
        "x.toml: limits.min_rate_hz = -1: must be a number > 0"
    )


@pytest.mark.parametrize(
    ("section", "line", "expected"),
    [
        ("device", 'host = "http://x"', 'device.host = "http://x": must be a testinfra URL'),
        ("device", 'host = "ssh://u@h:70000"', "port must be 1..65535"),
        ("device", 'docker_url = "npipe:////./pipe"', "must be a DOCKER_HOST URL"),
        ("device", 'docker_url = "tcp://h"', "must be a DOCKER_HOST URL"),
        ("device", 'kind = "x86"', 'device.kind = "x86": must be one of "jetson", "dgpu"'),
        ("device", 'sudo = "yes"', 'device.sudo = "yes": must be true or false'),
        ("device", 'ssh_options = ["-o Foo"]', 'device.ssh_options = ["-o Foo"]: must be a list'),
        ("compose", 'command = "podman compose"', 'must be one of "docker compose", "docker-compose"'),
        ("compose", "services = []", "compose.services = []: must be a non-empty list"),
        ("compose", 'services = ["a", "a"]', "distinct"),
        ("compose", 'project_dir = "agents"', "must be an absolute path"),
        ("compose", 'env_file = "/etc/x.env"', "relative to compose.project_dir"),
        ("containers", 'agent = ""', 'containers.agent = "": must be a name'),
        ("mqtt", 'url = "http://h"', 'mqtt.url = "http://h": must be mqtt://host[:port]'),
        ("mqtt", 'url = "mqtt://user:pw@h"', "never in the URL"),
        ("mqtt", 'username_env = "MY-VAR"', "environment variable name"),
        ("topics", 'embeddings = "vision/#"', "without wildcards"),
        ("fields", 'location = "locations..current"', "dotted path"),
        ("expect", "dim = 0", "expect.dim = 0: must be an integer >= 1"),
        ("expect", "dim = 768.0", "expect.dim = 768.0: must be an integer"),
        ("expect", "dim = true", "expect.dim = true: must be an integer"),
        ("expect", 'backend = "onnx"', 'must be one of "pytorch", "tensorrt"'),
        ("expect", 'device = "gpu"', '"cuda", "cuda:N" or "cpu"'),
        ("limits", 'window_s = "10"', 'limits.window_s = "10": must be a number > 0'),
        ("limits", "window_s = nan", "limits.window_s = nan: must be a number > 0"),
        ("limits", "window_s = inf", "limits.window_s = inf"),
        ("limits", "gr3d_min_percent = 101", "must be a number >= 0 and <= 100"),
        ("limits", "max_seq_gap = -1", "must be an integer >= 0"),
        ("limits", "min_actuation_success = 1.5", "<= 1"),
        ("limits", "norm_max = 0.001", "limits.norm_max = 0.001: must be > limits.norm_min (0.01)"),
        ("plan_b", 'engine_path = "model.engine"', "absolute path"),
        ("plan_b", "input_size = -224", "plan_b.input_size = -224"),
    ],
)
def test_bad_values(tmp_path: Path, section: str, line: str, expected: str) -> None:
    message = error_for(tmp_path, minimal(**{section: line}))
    assert message.startswith("x.toml: ")
    assert expected in message


def test_unknown_key_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    message = error_for(tmp_path, minimal(limits="min_rate = 4.0"))
    assert message.startswith("x.toml: limits.min_rate = 4.0: unknown key; did you mean min_rate_hz?")
    assert "allowed in [limits]" in message


def test_unknown_section_is_an_error(tmp_path: Path) -> None:
    message = error_for(tmp_path, minimal(limit="window_s = 1.0"))
    assert message.startswith("x.toml: limit = {window_s = 1.0}: unknown key; did you mean limits?")


def test_section_must_be_a_table(tmp_path: Path) -> None:
    assert "must be a table [limits]" in error_for(tmp_path, 'limits = 3\n[device]\nname = "d"\n')


def test_name_is_required(tmp_path: Path) -> None:
    assert error_for(tmp_path, "[limits]\nwindow_s = 1.0\n") == (
        "x.toml: device.name: required, missing (no [device] table)"
    )
    assert error_for(tmp_path, '[device]\nhost = "local://"\n') == "x.toml: device.name: required, missing"


def test_syntax_error_names_the_file(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[device\nname = 1\n")
    assert message.startswith("x.toml: not valid TOML: ")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_bytes(b'[device]\nname = "\xff"\n')
    with pytest.raises(ProfileError, match="not UTF-8"):
        load_profile(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"nope\.toml: cannot read the profile"):
        load_profile(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    "host",
    [
        "local://",
        "ssh://h",
        "ssh://jetson@10.0.0.5",
        "ssh://jetson@orin.local:2222",
        "ssh://u@[::1]:22",
        "docker://jetson-sim-sim1",
        "paramiko://u@h",
    ],
)
def test_good_host_urls(host: str) -> None:
    p = profile_from_dict({"device": {"name": "d", "host": host}})
    assert p.device.host == host


@pytest.mark.parametrize(
    "url", ["unix:///var/run/docker.sock", "tcp://10.0.0.5:2375", "ssh://jetson@orin", "ssh://u@h:2222"]
)
def test_good_docker_urls(url: str) -> None:
    assert profile_from_dict({"device": {"name": "d", "docker_url": url}}).device.docker_url == url


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mqtt://127.0.0.1", MqttUrl("127.0.0.1", 1883, False)),
        ("mqtt://broker:1884", MqttUrl("broker", 1884, False)),
        ("mqtts://broker", MqttUrl("broker", 8883, True)),
        ("mqtts://[::1]:8884", MqttUrl("::1", 8884, True)),
        ("mqtt://broker/", MqttUrl("broker", 1883, False)),
    ],
)
def test_mqtt_url(text: str, expected: MqttUrl) -> None:
    assert parse_mqtt_url(text) == expected


def test_mqtt_url_str() -> None:
    assert str(parse_mqtt_url("mqtts://b")) == "mqtts://b:8883"


@pytest.mark.parametrize("text", ["tcp://h:1883", "mqtt://", "mqtt://h:0", "mqtt://h:99999", "mqtt://u@h"])
def test_bad_mqtt_url(text: str) -> None:
    with pytest.raises(ValueError, match="must be mqtt://host"):
        parse_mqtt_url(text)


def test_credentials() -> None:
    anonymous = profile_from_dict({"device": {"name": "d"}})
    assert anonymous.credentials({}) is None
    named = profile_from_dict(
        {"device": {"name": "d"}, "mqtt": {"username_env": "HIL_USER", "password_env": "HIL_PW"}}, "p.toml"
    )
    assert named.credentials({"HIL_USER": "u", "HIL_PW": "s3cret"}) == ("u", "s3cret")
    with pytest.raises(ProfileError) as info:
        named.credentials({"HIL_USER": "u"})
    assert str(info.value) == 'p.toml: mqtt.password_env = "HIL_PW": environment variable HIL_PW is not set'
    user_only = profile_from_dict({"device": {"name": "d"}, "mqtt": {"username_env": "HIL_USER"}})
    assert user_only.credentials({"HIL_USER": "u"}) == ("u", None)


def test_password_without_user_is_an_error() -> None:
    with pytest.raises(ProfileError, match="mqtt.password_env .* needs mqtt.username_env"):
        profile_from_dict({"device": {"name": "d"}, "mqtt": {"password_env": "PW"}})


def test_overrides(tmp_path: Path) -> None:
    p = load_profile(write(tmp_path, FULL))
    q = p.with_overrides(host="ssh://jetson@orin", docker_url="tcp://orin:2375", mqtt_url="mqtts://orin", window_s=3)
    assert (q.device.host, q.device.docker_url) == ("ssh://jetson@orin", "tcp://orin:2375")
    assert q.mqtt.url == MqttUrl("orin", 8883, True)
    assert q.limits.window_s == 3.0
    assert p.with_overrides() == p
    assert p.device.host == "docker://jetson-sim-sim1"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"host": "ftp://x"}, "device.host"),
        ({"docker_url": "x"}, "device.docker_url"),
        ({"mqtt_url": "x"}, "mqtt.url"),
        ({"window_s": 0}, "limits.window_s"),
    ],
)
def test_bad_override(tmp_path: Path, kwargs: dict, field: str) -> None:
    p = load_profile(write(tmp_path, FULL))
    with pytest.raises(ProfileError) as info:
        p.with_overrides(**kwargs)
    assert info.value.field == field
    assert "(override)" in str(info.value)


@pytest.mark.parametrize("name", ["local.toml", "example-orin-ssh.toml"])
def test_shipped_profiles_load(name: str) -> None:
    p = load_profile(ROOT / "devices" / name)
    assert isinstance(p, DeviceProfile)


def test_shipped_profiles_are_what_they_say() -> None:
    local = load_profile(ROOT / "devices" / "local.toml")
    assert local.device.host == "local://" and local.device.docker_url.startswith("unix://")
    remote = load_profile(ROOT / "devices" / "example-orin-ssh.toml")
    assert remote.device.transport == "ssh" and remote.device.docker_url.startswith("ssh://")


def test_docs_cover_every_field() -> None:
    doc = (ROOT / "docs" / "device-profile.md").read_text()
    missing = [
        f"{section}.{name}"
        for section, rows in field_docs().items()
        for name, *_ in rows
        if not re.search(rf"`{re.escape(name)}`", doc.split(f"[{section}]", 1)[-1])
    ]
    assert f"[{list(field_docs())[0]}]" in doc
    assert not missing, f"docs/device-profile.md does not document {missing}"


def test_docs_example_loads(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "device-profile.md").read_text()
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    assert load_profile(write(tmp_path, example)).device.simulator == "sim1"


def test_a_dgpu_reports_its_gpu_load_unless_the_profile_sets_a_floor() -> None:
    """A small encoder at a few Hz keeps a discrete GPU busy well under 1 % of the time (0-1 % on an H200)."""
    jetson = profile_from_dict({"device": {"name": "j"}})
    dgpu = profile_from_dict({"device": {"name": "d", "kind": "dgpu"}})
    floored = profile_from_dict({"device": {"name": "d", "kind": "dgpu"}, "limits": {"gr3d_min_percent": 2}})
    assert (jetson.limits.gr3d_min_percent, dgpu.limits.gr3d_min_percent) == (1.0, 0.0)
    assert floored.limits.gr3d_min_percent == 2.0
