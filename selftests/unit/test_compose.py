"""jetson_hil.compose on the simulator's compose file and a composed file with every form, the built-in YAML
reader checked against PyYAML (a declared dependency) and against its own dumps."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from jetson_hil import compose
from jetson_hil.compose import YAML_BACKEND, BuildSpec, ComposeProject, Mount, load_yaml
from jetson_hil.errors import ParseError

DATA = Path(__file__).resolve().parents[2] / "fixtures" / "data" / "compose"
BACKENDS = ["builtin"] + (["pyyaml"] if YAML_BACKEND == "pyyaml" else [])


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    """Run a test with each YAML reader available here (PyYAML is optional)."""
    monkeypatch.setattr(compose, "YAML_BACKEND", request.param)
    return request.param


def test_simulator_compose_file(backend):
    project = ComposeProject.load(DATA / "sim_project_compose.yml")
    assert project.path == DATA / "sim_project_compose.yml"
    assert list(project.services) == ["mosquitto", "vl_jepa", "embedding_guard", "scene", "policy"]
    vl = project.by_container("vl_jepa_agent")
    assert vl is project.service("vl_jepa")
    assert vl.container_name == "vl_jepa_agent"
    assert vl.image == "sim1/vl_jepa:latest"
    assert vl.build == BuildSpec(context=".", dockerfile="docker/vl_jepa/Dockerfile")
    assert vl.env_file == ["config/jetson.env"]
    assert vl.env_file_paths(DATA) == [DATA / "config/jetson.env"]
    assert vl.environment == {
        "MQTT_HOST": "127.0.0.1",
        "MQTT_PORT": "1883",
        "JETSON_SIM_ROOT": "/var/lib/jetson-hil/sim1",
        "JETSON_SIM_FAULTS_FILE": "/run/jetson-sim/faults",
    }
    assert (vl.runtime, vl.restart, vl.network_mode, vl.depends_on) == (
        "nvidia",
        "unless-stopped",
        "host",
        ["mosquitto"],
    )
    assert vl.gpu_requested is True
    models = [m for m in vl.volumes if m.target == "/mnt/ssd/models"]
    assert models == [Mount("/mnt/ssd/models", "./models", False, "bind", "./models:/mnt/ssd/models")]
    assert vl.volumes[0] == Mount("/usr", "/usr", True, "bind", "/usr:/usr:ro")
    mosquitto = project.service("mosquitto")
    assert (mosquitto.runtime, mosquitto.gpu_requested, mosquitto.env_file) == ("runc", False, [])
    assert mosquitto.raw["command"] == ["/usr/sbin/mosquitto", "-c", "/mosquitto/mosquitto.conf"]
    assert project.raw["version"] == "2.4"


def test_every_form_field_by_field(backend):
    project = ComposeProject.load(DATA / "runbook_stack_forms.yml")
    assert project.name == "vision"
    vl = project.service("vl_jepa")
    assert vl.build == BuildSpec(".", "docker/vl_jepa/Dockerfile", args={"L4T_TAG": "r36.4.0"})
    assert vl.env_file == ["config/jetson.env", "config/local.env"]
    assert vl.environment == {
        "VL_JEPA_LOG_LEVEL": "info",
        "VL_JEPA_WARMUP": "3",
        "VL_JEPA_TRACE": "false",
        "NVIDIA_VISIBLE_DEVICES": None,
    }
    assert vl.devices == ["/dev/nvhost-gpu", "/dev/nvmap:/dev/nvmap"]
    assert vl.volumes == [
        Mount("/mnt/ssd/models", "/mnt/ssd/models", True, "bind", "/mnt/ssd/models:/mnt/ssd/models:ro"),
        Mount("/data", "./data", False, "bind"),
        Mount("/root/.cache", "vl_cache", False, "volume", "vl_cache:/root/.cache"),
        Mount("/tmp/argus_socket", "/tmp/argus_socket", False, "bind", "/tmp/argus_socket:/tmp/argus_socket"),
    ]
    assert vl.depends_on == ["mosquitto"]
    guard = project.service("embedding_guard")
    assert guard.build == BuildSpec("./docker/agents")
    assert guard.environment == {
        "EMBEDDING_GUARD_MODE": "run",
        "EMBEDDING_GUARD_LABEL": "game non-game",
        "MQTT_HOST": None,
    }
    assert (guard.runtime, guard.gpu_requested, guard.container_name) == (None, True, None)
    assert guard.depends_on == ["mosquitto", "vl_jepa"]
    scene = project.service("scene")
    assert scene.raw["command"] == "python3 /app/agents/scene.py --locations stable\n"
    assert scene.gpu_requested is False
    assert project.service("policy").image is None
    assert project.by_container("vision-embedding_guard-1") is guard
    assert project.by_container("vision_scene_1") is scene


def test_default_project_name_from_dot_env_or_directory(tmp_path):
    (tmp_path / "My Project").mkdir()
    path = tmp_path / "My Project" / "docker-compose.yml"
    path.write_text("services:\n  vl_jepa:\n    image: x\n")
    assert ComposeProject.load(path).name == "myproject"
    assert ComposeProject.load(path).by_container("myproject-vl_jepa-1").name == "vl_jepa"
    (tmp_path / "My Project" / ".env").write_text("# compose settings\nCOMPOSE_PROJECT_NAME=sim1\n")
    assert ComposeProject.load(path).name == "sim1"
    assert ComposeProject.loads("services: {}").name is None


def test_missing_service_and_container_are_key_errors():
    project = ComposeProject.load(DATA / "sim_project_compose.yml")
    with pytest.raises(KeyError, match="no service 'vljepa'.*vl_jepa"):
        project.service("vljepa")
    with pytest.raises(KeyError, match="no service runs a container named 'nope'.*vl_jepa_agent"):
        project.by_container("nope")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "top level: expected a mapping"),
        ("services: [vl_jepa]\n", "services: expected a mapping"),
        ("services:\n  vl_jepa: cuda\n", "services.vl_jepa: expected a mapping"),
        (
            "services:\n  vl_jepa:\n    environment: cuda\n",
            "services.vl_jepa.environment: expected a list or a mapping",
        ),
        ("services:\n  vl_jepa:\n    environment: [=x]\n", r"services.vl_jepa.environment\[0\]"),
        ("services:\n  vl_jepa:\n    environment:\n      A: [1]\n", "services.vl_jepa.environment.A"),
        ("services:\n  vl_jepa:\n    build:\n      context: [a]\n", "services.vl_jepa.build.context"),
        ("services:\n  vl_jepa:\n    build: 3\n", "services.vl_jepa.build: expected a path"),
        ("services:\n  vl_jepa:\n    env_file: {a: 1}\n", "services.vl_jepa.env_file: expected a list or a string"),
        ("services:\n  vl_jepa:\n    devices: /dev/nvmap\n", "services.vl_jepa.devices: expected a list"),
        ("services:\n  vl_jepa:\n    volumes:\n      - a:b:c:d\n", r"services.vl_jepa.volumes\[0\]"),
        ("services:\n  vl_jepa:\n    volumes:\n      - {source: x}\n", r"services.vl_jepa.volumes\[0\].target"),
        ("services:\n  vl_jepa:\n    container_name: [a]\n", "services.vl_jepa.container_name: expected a string"),
    ],
)
def test_structure_errors_name_file_and_key(backend, text, message):
    with pytest.raises(ParseError, match=message) as info:
        ComposeProject.loads(text, source="docker-compose.yml")
    assert str(info.value).startswith("docker-compose.yml: ")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("services:\n\tvl_jepa: {}\n", 2),
        ("services:\n  a: 1\n  a: 2\n", 3),
        ("services:\n  vl_jepa: [a, b\n", 2),
        ("services:\n  vl_jepa:\n    image: a: b\n", 3),
        ('services:\n  vl_jepa:\n    image: "x" y\n', 3),
        ("services:\n    vl_jepa: {}\n  scene: {}\n", 3),
        ("a: 1\n---\nb: 2\n", 2),
    ],
)
def test_yaml_errors_name_the_line(backend, text, line):
    if backend == "pyyaml" and text.endswith("[a, b\n"):
        line += 1  # PyYAML notices an unclosed flow sequence where the stream ends
    with pytest.raises(ParseError) as info:
        ComposeProject.loads(text, source="docker-compose.yml")
    assert info.value.line_number == line
    assert "docker-compose.yml" in str(info.value)


def test_builtin_reader_uses_yaml_1_2_scalars_like_compose():
    assert load_yaml("n: 012\nf: 1.5e3\ns: yes\no: off\nt: TRUE\nz: ~\n", backend="builtin") == {
        "n": 12, "f": 1500.0, "s": "yes", "o": "off", "t": True, "z": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    "text",
    [
        "x: &anchor {a: 1}\ny: *anchor\n",
        "services:\n  vl_jepa: !reset null\n",
        "? complex\n: key\n",
        "base: {a: 1}\nother:\n  <<: {b: 2}\n",
    ],
)
def test_builtin_reader_refuses_what_needs_pyyaml(text):
    with pytest.raises(ParseError, match="need PyYAML"):
        load_yaml(text, backend="builtin")


# ------------------------------------------------------------------------------------------------------
# The built-in reader against PyYAML


TRICKY = [
    "k: |\n  line1\n    indented\n  line3\n\nnext: 1\n",
    "k: >-\n  folded\n  text\n\n  para\n",
    "k: |+\n  keep\n\n",
    "k: 'it''s'\nq: \"tab\\there \\u00e9 \\\\ \\\"\"\n",
    "list:\n- a\n- b: 1\n  c: [x, 'y z', {d: e}]\n-\n  - nested\n",
    # (012 and 1.5e3 are left out: YAML 1.1, which PyYAML reads, and YAML 1.2, which compose reads, differ there)
    "n: 12\nf: 1.5\nneg: -7\nhex: 0x1F\nnull1: ~\nnull2:\nbool: True\ns: '123'\n",
    'url: http://host:8080/path\ncmd: ["sh", "-c", "echo a: b"]\n',
    "multi: [a,\n  b,\n  c]\nplain: one\n  two\n",
    "# only a comment\n",
    "---\nk: v\n...\n",
]


@pytest.mark.parametrize("name", ["sim_project_compose.yml", "runbook_stack_forms.yml"])
def test_builtin_reader_matches_pyyaml_on_fixtures(name):
    _assert_same_as_pyyaml((DATA / name).read_text())


@pytest.mark.parametrize("text", TRICKY)
def test_builtin_reader_matches_pyyaml_on_tricky_forms(text):
    _assert_same_as_pyyaml(text)


def _assert_same_as_pyyaml(text: str) -> None:
    assert load_yaml(text, backend="builtin") == json.loads(json.dumps(yaml.safe_load(text)))


SCALARS = st.one_of(
    st.from_regex(r"[a-z][a-z0-9_./-]{0,10}", fullmatch=True).filter(
        lambda s: s not in ("true", "false", "null", "y", "n", "yes", "no", "on", "off")
    ),
    st.integers(-1000, 1000),
    st.booleans(),
    st.none(),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=10),
)
KEYS = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: s not in ("true", "false", "null", "y", "n", "yes", "no", "on", "off")
)
TREES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=4), st.dictionaries(KEYS, inner, min_size=1, max_size=4)
    ),
    max_leaves=20,
)


def _scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)  # a double-quoted YAML scalar


def _dump(value, indent: int = 0) -> list[str]:
    """Block-style YAML of value, the way compose files are written."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)):
                lines.append(f"{pad}{k}:")
                lines += _dump(v, indent + 2)
            else:
                lines.append(f"{pad}{k}: {_scalar(v)}")
    else:
        for v in value:
            if isinstance(v, (dict, list)):
                lines.append(f"{pad}-")
                lines += _dump(v, indent + 2)
            else:
                lines.append(f"{pad}- {_scalar(v)}")
    return lines


@given(st.dictionaries(KEYS, TREES, min_size=1, max_size=5))
def test_builtin_reader_reads_back_block_dumps(data):
    assert load_yaml("\n".join(_dump(data)) + "\n", backend="builtin") == data


@given(st.text())
def test_arbitrary_text_raises_only_parse_error(text):
    for name in BACKENDS:
        with contextlib.suppress(ParseError):
            ComposeProject.from_dict(load_yaml(text, backend=name))


@given(st.text("abc: -[]{}'\"#|>\n\t&*!?,", max_size=60))
def test_yaml_like_text_raises_only_parse_error(text):
    with contextlib.suppress(ParseError):
        ComposeProject.loads(text)
