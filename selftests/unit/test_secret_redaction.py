"""Secrets in the places the suite quotes values from: profile errors (they reach the terminal and the report)
and the env table of the report."""

from __future__ import annotations

import pytest

from jetson_hil.profile import ProfileError, profile_from_dict
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
