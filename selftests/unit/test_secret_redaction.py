"""Secrets in the places the suite quotes values from: profile errors (they reach the terminal and the report),
the env table of the report, and the scrub of every file the run writes (jetson_hil.report.redact)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from jetson_hil.profile import ProfileError, profile_from_dict
from jetson_hil.report.redact import Scrubber, scan_values
from jetson_hil.report.summary import redact

SECRET = "Pw0rd-with@at-sign"


@pytest.mark.parametrize(
    "url",
    [f"mqtt://hil:{SECRET}@127.0.0.1:1883", f"mqtts://:{SECRET}@broker", f"tcp://u:{SECRET}@h:2375"],
)
def test_a_password_in_a_url_is_not_quoted_by_the_profile_error(url: str) -> None:
    base = profile_from_dict({"device": {"name": "x"}}, "p.toml")
    with pytest.raises(ProfileError) as err:
        if url.startswith("tcp"):
            base.with_overrides(docker_url=url)
        else:
            base.with_overrides(mqtt_url=url)
    message = str(err.value)
    assert SECRET not in message and "with@at" not in message and "at-sign" not in message
    assert ":***@" in message and "\n" not in message


def test_a_url_password_in_the_file_is_not_quoted_either() -> None:
    with pytest.raises(ProfileError) as err:
        profile_from_dict({"device": {"name": "x"}, "mqtt": {"url": f"mqtt://u:{SECRET}@h"}}, "p.toml")
    assert SECRET not in str(err.value) and 'mqtt.url = "mqtt://u:***@h"' in str(err.value)


def test_user_names_without_password_are_kept() -> None:
    with pytest.raises(ProfileError) as err:
        profile_from_dict({"device": {"name": "x", "host": "ssh://jetson@orin:99999"}}, "p.toml")
    assert "ssh://jetson@orin:99999" in str(err.value)


def test_env_table_redacts_secret_names() -> None:
    env = {"HF_TOKEN": "t", "MQTT_PASSWORD": "p", "API_KEY": "k", "CLIENT_SECRET": "s", "VL_JEPA_DEVICE": "cuda"}
    assert redact(env) == {k: ("cuda" if k == "VL_JEPA_DEVICE" else "***") for k in env}


# ---------------------------------------------------------------- the env file: shown keys, hidden values, scrub

PLANTED = {
    "VL_JEPA_DEVICE": "cuda",
    "EMBEDDING_GUARD_DIM": "384",
    "VL_JEPA_MQTT_URL": "mqtt://hil:urlPw0rd-9@broker:1883",
    "MQTT_URL": "mqtts://svc:otherPw-77@broker.lan:8883",
    "DB_PASS": "dbPass-4242",
    "PASSWD": "passwd&<\"'x",
    "X_AUTH": "Bearer abc.def.ghi",
    "Y_CREDENTIALS": "user:credPw-5151",
    "VL_JEPA_API_KEY": "vlKey-6161",
    "LOG_LEVEL": "on",
}
SECRETS = ["urlPw0rd-9", "otherPw-77", "dbPass-4242", "passwd&<\"'x", "Bearer abc.def.ghi", "user:credPw-5151",
           "vlKey-6161"]


def test_only_the_runbooks_keys_are_shown_with_url_passwords_hidden() -> None:
    shown = redact(PLANTED)
    assert shown == {
        "VL_JEPA_DEVICE": "cuda",
        "EMBEDDING_GUARD_DIM": "384",
        "VL_JEPA_MQTT_URL": "mqtt://hil:***@broker:1883",
        **{k: "***" for k in ("MQTT_URL", "DB_PASS", "PASSWD", "X_AUTH", "Y_CREDENTIALS", "VL_JEPA_API_KEY")},
        "LOG_LEVEL": "***",
    }
    assert not any(s in json.dumps(shown) for s in SECRETS)


def test_every_hidden_value_and_url_password_is_scanned_for_short_ones_not() -> None:
    values = scan_values(PLANTED, also=["brokerPw-1", None])
    assert values >= set(SECRETS) | {"brokerPw-1", PLANTED["MQTT_URL"]}
    assert "on" not in values and "cuda" not in values and "384" not in values


def _scrubber() -> Scrubber:
    s = Scrubber()
    s.learn(PLANTED)
    return s


@pytest.mark.parametrize("secret", SECRETS)
def test_a_secret_is_scrubbed_in_every_encoding_the_report_uses(secret: str) -> None:
    s = _scrubber()
    texts = [
        f"agent log: connecting with {secret} now",
        json.dumps({"tail": f"pw={secret}\n"}),
        html.escape(f"<pre>{secret}</pre>"),
        html.escape(json.dumps({"log": f"x {secret} y"})),
        f"url=mqtt://u:{quote(secret, safe='')}@h",
    ]
    for text in texts:
        assert secret not in s.text(text) and "***" in s.text(text), text
    uri = "data:text/plain;charset=utf-8;base64," + base64.b64encode(f"line {secret}\n".encode()).decode()
    decoded = base64.b64decode(s.text(f'<a href="{uri}">').split("base64,")[1].split('"')[0]).decode()
    assert decoded == "line ***\n"


def test_the_scrub_keeps_words_that_only_contain_a_value_and_leaves_images_alone() -> None:
    s = Scrubber()
    s.learn({"MQTT_PORT": "1883"})
    assert s.text("port 1883, t=18830, id 11883") == "port ***, t=18830, id 11883"
    png = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n1883\xff\xfe").decode()
    assert s.text(png) == png


def test_json_files_stay_valid_json_with_numbers_untouched(tmp_path: Path) -> None:
    s = Scrubber()
    s.learn({"PIN": "4321", "TOKEN": "tok-abcdef"})
    path = tmp_path / "summary.json"
    doc = {"env": {"TOKEN": "***"}, "message": "auth tok-abcdef failed", "4321": 4321, "ok": True, "x": None}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    assert s.file(path)
    expected = {"env": {"TOKEN": "***"}, "message": "auth *** failed", "***": 4321, "ok": True, "x": None}
    assert json.loads(path.read_text()) == expected
    assert path.read_text().startswith("{\n  ") and path.read_text().endswith("}\n")
    assert not s.file(path)


def test_tree_scrubs_every_text_file_below_the_report_dir(tmp_path: Path) -> None:
    s = _scrubber()
    (tmp_path / "devices" / "orin").mkdir(parents=True)
    files = {
        "report.html": f"<p>{html.escape(PLANTED['PASSWD'])}</p>",
        "junit.xml": f'<failure message="{html.escape(PLANTED["DB_PASS"])}"/>',
        "devices/orin/telemetry.json": json.dumps({"note": PLANTED["X_AUTH"]}),
        "notes.txt": "clean",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "plot.png").write_bytes(b"\x89PNG\xff" + PLANTED["DB_PASS"].encode())
    changed = s.tree(tmp_path)
    assert sorted(p.name for p in changed) == ["junit.xml", "report.html", "telemetry.json"]
    for name in files:
        text = (tmp_path / name).read_text()
        assert not any(v in text or html.escape(v) in text for v in SECRETS), name


def test_a_scrubber_that_learnt_nothing_changes_nothing(tmp_path: Path) -> None:
    s = Scrubber()
    s.learn({"VL_JEPA_DEVICE": "cuda", "SHORT": "abc"})
    path = tmp_path / "report.html"
    path.write_text("cuda abc")
    assert s.values == frozenset() and not s.tree(tmp_path) and path.read_text() == "cuda abc"


def test_reading_learns_from_what_the_reader_returns() -> None:
    s = Scrubber()
    read = s.reading(lambda: {"DB_PASS": "dbPass-4242"}, also=["brokerPw-1"])
    assert read() == {"DB_PASS": "dbPass-4242"} and s.values == {"dbPass-4242", "brokerPw-1"}
