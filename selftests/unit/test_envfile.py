"""jetson_hil.envfile: compose's env_file syntax, byte-for-byte round trips, in-place edits, atomic writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from jetson_hil.envfile import EnvFile, EnvVar, write_atomic
from jetson_hil.errors import ParseError

DATA = Path(__file__).resolve().parents[2] / "fixtures" / "data" / "compose"

# Every form of config/jetson.env line the parser must keep as written.
MIXED = (
    "# vl_jepa settings (runbook Task 3)\n"
    "\n"
    "VL_JEPA_DEVICE=cpu  # cpu or cuda\n"
    "export VL_JEPA_FP16=0\n"
    "VL_JEPA_BACKEND='pytorch'\n"
    'VL_JEPA_ENGINE_PATH="/mnt/ssd/models/vl_jepa/dinov2_small_224_f1_fp16.engine"\n'
    "   VL_JEPA_INPUT_SIZE = 224\n"
    "EMBEDDING_GUARD_DIM: 768\n"
    "EMBEDDING_GUARD_MODE\n"
    "\t# indented comment\n"
    "EMPTY=\n"
    'MULTI="line one\nline two"\n'
    "LAST=end"
)


def test_real_project_env_file_reads_every_key():
    env = EnvFile.read(DATA / "sim_project_jetson.env")
    assert env.as_dict() == {
        "VL_JEPA_DEVICE": "cuda",
        "VL_JEPA_FP16": "1",
        "VL_JEPA_BACKEND": "pytorch",
        "VL_JEPA_ENGINE_PATH": "/mnt/ssd/models/vl_jepa/dinov2_small_224_f1_fp16.engine",
        "VL_JEPA_INPUT_SIZE": "224",
        "VL_JEPA_ENCODER": "dinov2-s14",
        "VL_JEPA_RATE": "5",
        "EMBEDDING_GUARD_DIM": "384",
        "EMBEDDING_GUARD_MODE": "run",
        "EMBEDDING_GUARD_CENTROIDS": "/data/centroids.json",
    }
    assert env.to_text() == (DATA / "sim_project_jetson.env").read_text()


def test_mixed_forms_field_by_field():
    env = EnvFile.parse(MIXED)
    assert env.to_text() == MIXED
    assert env.get("VL_JEPA_DEVICE") == "cpu"
    assert env.get("VL_JEPA_FP16") == "0"
    assert env.get("VL_JEPA_BACKEND") == "pytorch"
    assert env.get("VL_JEPA_ENGINE_PATH") == "/mnt/ssd/models/vl_jepa/dinov2_small_224_f1_fp16.engine"
    assert env.get("VL_JEPA_INPUT_SIZE") == "224"
    assert env.get("EMBEDDING_GUARD_DIM") == "768"
    assert env.get("EMBEDDING_GUARD_MODE") is None and "EMBEDDING_GUARD_MODE" in env
    assert env.get("EMPTY") == ""
    assert env.get("MULTI") == "line one\nline two"
    assert env.get("LAST") == "end"
    assert env.get("MISSING", "default") == "default"
    assert env.keys()[0] == "VL_JEPA_DEVICE"
    variables = {v.key: v for v in env.variables()}
    assert variables["VL_JEPA_FP16"] == EnvVar("VL_JEPA_FP16", "0", line=4, quote="", export=True)
    assert variables["VL_JEPA_BACKEND"].quote == "'"
    assert variables["MULTI"].line == 12 and variables["LAST"].line == 14


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("A=plain", "plain"),
        ("A=a b c", "a b c"),
        ("A=with # comment", "with"),
        ("A=no#comment", "no#comment"),
        ("A=  leading", "leading"),
        ("A=trailing   ", "trailing"),
        ("A='single # kept'", "single # kept"),
        ("A='it\\'s'", "it's"),
        ("A='back\\slash'", "back\\slash"),
        ('A="tab\\there"', "tab\there"),
        ('A="quote \\" inside"', 'quote " inside'),
        ('A="dollar \\$HOME"', "dollar $HOME"),
        ('A="double $$"', "double $"),
        ("A=$$literal", "$literal"),
        ("A=${VAR}", "${VAR}"),
        ('A="x" # comment', "x"),
        ("A=cuda\r", "cuda"),
        ("a.b-c[0]=1", "1"),
    ],
)
def test_values_as_compose_reads_them(line, value):
    env = EnvFile.parse(line + "\n")
    assert env.get(env.keys()[0]) == value
    assert env.to_text() == line + "\n"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("OK=1\nBAD KEY=1\n", 2, "cannot contain a space"),
        ("OK=1\n\nBAD$=1\n", 3, "unexpected character"),
        ("=value\n", 1, "empty variable name"),
        ('A="never closed\nB=2\n', 1, "unterminated quoted value"),
        ("A='x' trailing\n", 1, "after the closing quote"),
    ],
)
def test_malformed_lines_name_their_number(text, line, message):
    with pytest.raises(ParseError, match=message) as info:
        EnvFile.parse(text, source="config/jetson.env")
    assert info.value.line_number == line
    assert "config/jetson.env" in str(info.value)


def test_set_keeps_everything_else():
    env = EnvFile.parse(MIXED)
    env.set("VL_JEPA_DEVICE", "cuda").set("VL_JEPA_FP16", "1").set("VL_JEPA_BACKEND", "tensorrt")
    env.set("EMBEDDING_GUARD_DIM", "384").set("EMBEDDING_GUARD_MODE", "collect_game")
    env.set("VL_JEPA_INPUT_SIZE", "518")
    assert env.to_text() == (
        MIXED.replace("VL_JEPA_DEVICE=cpu  # cpu or cuda", "VL_JEPA_DEVICE=cuda  # cpu or cuda")
        .replace("export VL_JEPA_FP16=0", "export VL_JEPA_FP16=1")
        .replace("VL_JEPA_BACKEND='pytorch'", "VL_JEPA_BACKEND='tensorrt'")
        .replace("EMBEDDING_GUARD_DIM: 768", "EMBEDDING_GUARD_DIM: 384")
        .replace("EMBEDDING_GUARD_MODE\n", "EMBEDDING_GUARD_MODE=collect_game\n")
        .replace("   VL_JEPA_INPUT_SIZE = 224", "   VL_JEPA_INPUT_SIZE = 518")
    )


@pytest.mark.parametrize(
    ("original", "value", "written"),
    [
        ("A=x\n", "two words", 'A="two words"\n'),
        ("A=x\n", "$HOME", "A='$HOME'\n"),
        ("A=x\n", "it's $5", 'A="it\'s \\$5"\n'),
        ("A='x'\n", "has'quote", 'A="has\'quote"\n'),
        ('A="x"\n', "plain", 'A="plain"\n'),
        ("A=x\n", "line1\nline2", 'A="line1\\nline2"\n'),
        ("A=x\n", "", "A=\n"),
        ("A=x # note\n", "", 'A="" # note\n'),
        ('A="x"# tight comment\n', "y", 'A="y"# tight comment\n'),
        ("A=x\r\n", "y", "A=y\r\n"),
        ("A=\r\n", "y", "A=y\r\n"),
        ("A\r\n", "y", "A=y\r\n"),
    ],
)
def test_set_quotes_only_when_needed(original, value, written):
    env = EnvFile.parse(original).set("A", value)
    assert env.to_text() == written
    assert EnvFile.parse(written).get("A") == value


def test_set_appends_a_new_key_with_the_file_line_ends():
    assert EnvFile.parse("A=1").set("B", "2").to_text() == "A=1\nB=2\n"
    assert EnvFile.parse("A=1\r\n").set("B", "x y").to_text() == 'A=1\r\nB="x y"\r\n'
    assert EnvFile.parse("").set("B", "2").to_text() == "B=2\n"


def test_last_assignment_wins_and_unset_removes_all():
    env = EnvFile.parse("A=1\nB=2\nA=3\n")
    assert env.get("A") == "3"
    env.set("A", "4")
    assert env.to_text() == "A=1\nB=2\nA=4\n"
    assert env.unset("A") is True
    assert env.to_text() == "B=2\n"
    assert env.unset("A") is False
    with pytest.raises(KeyError, match="A is not set"):
        env["A"]


def test_set_rejects_bad_keys_and_values():
    env = EnvFile.parse("")
    with pytest.raises(ValueError, match="not a valid env-file key"):
        env.set("BAD KEY", "1")
    with pytest.raises(TypeError):
        env.set("A", 1)  # type: ignore[arg-type]


def test_write_atomic_replaces_and_keeps_mode(tmp_path):
    path = tmp_path / "jetson.env"
    path.write_text("VL_JEPA_DEVICE=cpu\n")
    path.chmod(0o640)
    env = EnvFile.read(path)
    env.set("VL_JEPA_DEVICE", "cuda").write()
    assert path.read_text() == "VL_JEPA_DEVICE=cuda\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["jetson.env"]  # no temporary file left


def test_write_atomic_keeps_crlf_and_follows_symlinks(tmp_path):
    target = tmp_path / "real.env"
    target.write_bytes(b"A=1\r\n")
    link = tmp_path / "jetson.env"
    link.symlink_to(target)
    env = EnvFile.read(link)
    assert env.to_text() == "A=1\r\n"
    write_atomic(link, env.set("A", "2").to_text())
    assert link.is_symlink()
    assert target.read_bytes() == b"A=2\r\n"


def test_write_atomic_new_file_and_failure_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "new.env"
    write_atomic(path, "A=1\n")
    assert path.read_text() == "A=1\n"

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, "A=2\n")
    assert path.read_text() == "A=1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["new.env"]


# ------------------------------------------------------------------------------------------------------
# Properties

KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
LINE_PIECES = st.lists(
    st.one_of(
        st.just("\n"),
        st.just("\r\n"),
        st.just("# comment\n"),
        st.builds(lambda k, v: f"{k}={v}\n", KEYS, st.text("abc 019_./#'\"$\\", max_size=12)),
        st.builds(lambda k, v: f"{k}={v} # note\n", KEYS, st.text("ab$ ", max_size=4)),
        st.builds(lambda k: f"export {k}='x y'\n", KEYS),
        st.builds(lambda k: f'{k}="a\\nb"\n', KEYS),
        st.text(max_size=20),
    ),
    max_size=12,
)


@given(st.text())
def test_arbitrary_text_raises_only_parse_error(text):
    try:
        env = EnvFile.parse(text)
    except ParseError:
        return
    assert env.to_text() == text


@given(LINE_PIECES)
def test_accepted_text_round_trips(pieces):
    text = "".join(pieces)
    try:
        env = EnvFile.parse(text)
    except ParseError:
        assume(False)
        return
    assert env.to_text() == text
    assert EnvFile.parse(env.to_text()).as_dict() == env.as_dict()


@given(LINE_PIECES, KEYS, st.text())
def test_set_then_get_returns_the_value(pieces, key, value):
    try:
        env = EnvFile.parse("".join(pieces))
    except ParseError:
        assume(False)
        return
    env.set(key, value)
    assert env.get(key) == value
    reread = EnvFile.parse(env.to_text())
    assert reread.get(key) == value
    others = {k: v for k, v in env.as_dict().items() if k != key}
    assert {k: v for k, v in reread.as_dict().items() if k != key} == others
