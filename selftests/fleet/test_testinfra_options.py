"""pytest-testinfra's options are honoured or refused, never silently ignored (fixtures/testinfra_options.py): each
option's effect on the resolved device profiles, seen from inside a real pytest run of the suite's plugins (no
device is reached), and each refusal as one line with exit status 4. The live proof that --hosts drives a run over
SSH is selftests/sim/test_testinfra_hosts_live.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures import testinfra_options
from fixtures.transports import ssh_options
from jetson_hil.profile import profile_from_dict

ROOT = Path(__file__).resolve().parents[2]
PROFILE = '[device]\nname = "{name}"\nhost = "ssh://jetson@{name}"\ndocker_url = "ssh://jetson@{name}"\nsudo = false\n'
PROBE = '''import json, os
pytest_plugins = ["fixtures.options"]

def test_write_profiles(pytestconfig):
    from fixtures.options import fleet_of, resolve_target
    out = {}
    for device in fleet_of(pytestconfig):
        p = resolve_target(pytestconfig, device.name).profile
        d = p.device
        out[device.name] = {"host": d.host, "docker_url": d.docker_url, "mqtt": str(p.mqtt.url), "sudo": d.sudo,
                            "ssh_identity": d.ssh_identity, "ssh_config": d.ssh_config,
                            "ssh_options": list(d.ssh_options), "source": p.source}
    with open(os.environ["PROFILES_OUT"], "w") as f:
        json.dump(out, f)
'''


def _pytest(tmp_path: Path, *args: str, probe: bool = False) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-q",
            "-p", "no:randomly", "-p", "no:cacheprovider"]  # fmt: skip
    if probe:
        (tmp_path / "test_probe.py").write_text(PROBE)
        argv += [str(tmp_path / "test_probe.py"), "-p", "fixtures.options"]
    else:
        argv += ["-m", "jetson", "--collect-only"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1", "PROFILES_OUT": str(tmp_path / "o")}
    return subprocess.run([*argv, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)


def _profiles(tmp_path: Path, *args: str) -> dict[str, dict]:
    proc = _pytest(tmp_path, *args, probe=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return json.loads((tmp_path / "o").read_text())


def _refused(tmp_path: Path, *args: str) -> str:
    proc = _pytest(tmp_path, *args)
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ERROR: jetson-hil: "), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    return lines[0]


@pytest.fixture
def orin(tmp_path: Path) -> Path:
    path = tmp_path / "orin.toml"
    path.write_text(PROFILE.format(name="orin"))
    return path


def test_hosts_without_a_profile_is_a_device_on_the_profile_defaults(tmp_path):
    got = _profiles(tmp_path, "--hosts=ssh://jetson@orin-7:2222")
    assert list(got) == ["orin-7-2222"]
    d = got["orin-7-2222"]
    assert d["host"] == "ssh://jetson@orin-7:2222" and d["docker_url"] == "ssh://jetson@orin-7:2222"
    assert d["mqtt"] == "mqtt://orin-7:1883" and d["sudo"] is True
    assert d["source"].startswith("--hosts ssh://jetson@orin-7:2222 (the profile's defaults)")


def test_hosts_lists_several_devices_and_connection_gives_bare_names_their_scheme(tmp_path):
    got = _profiles(tmp_path, "--hosts=orin-a,jetson@orin-b", "--connection=paramiko")
    assert {n: d["host"] for n, d in got.items()} == {"orin-a": "paramiko://orin-a", "orin-b": "paramiko://jetson@orin-b"}
    assert got["orin-b"]["docker_url"] == "ssh://jetson@orin-b"
    ids = [line for line in _pytest(tmp_path, "--hosts=orin-a,orin-b").stdout.splitlines() if "::" in line]
    assert ids and all(i.endswith(("[orin-a]", "[orin-b]")) or "[orin-a-" in i or "[orin-b-" in i for i in ids)


def test_hosts_beside_one_device_is_its_host(tmp_path, orin):
    got = _profiles(tmp_path, f"--device={orin}", "--hosts=ssh://admin@10.0.0.9")
    assert got["orin"]["host"] == "ssh://admin@10.0.0.9" and got["orin"]["docker_url"] == "ssh://jetson@orin"


def test_ssh_identity_file_ssh_config_and_extra_args_reach_the_ssh_link(tmp_path, orin):
    key, config = tmp_path / "id_test", tmp_path / "ssh_config"
    key.write_text("not a real key\n")
    config.write_text("Host orin\n  HostName 10.0.0.5\n")
    got = _profiles(tmp_path, f"--device={orin}", f"--ssh-identity-file={key}", f"--ssh-config={config}",
                    "--ssh-extra-args=-o StrictHostKeyChecking=accept-new -oConnectTimeout=5")["orin"]  # fmt: skip
    assert got["ssh_identity"] == str(key) and got["ssh_config"] == str(config)
    assert got["ssh_options"] == ["StrictHostKeyChecking=accept-new", "ConnectTimeout=5"]
    profile = testinfra_options.LinkOverrides(str(key), str(config), ("ConnectTimeout=5",)).apply(
        profile_from_dict({"device": {"name": "orin", "host": "ssh://orin"}})
    )
    args = ssh_options(profile)
    assert args[:2] == ["-F", str(config)] and ["-i", str(key)] == args[args.index("-i"):args.index("-i") + 2]
    assert "ConnectTimeout=5" in args and "ConnectTimeout=10" not in args


def test_sudo_turns_the_profiles_sudo_on(tmp_path, orin):
    assert _profiles(tmp_path, f"--device={orin}")["orin"]["sudo"] is False
    assert _profiles(tmp_path, f"--device={orin}", "--sudo")["orin"]["sudo"] is True


def test_ansible_inventory_is_the_inventory(tmp_path, orin):
    (tmp_path / "hosts.ini").write_text(
        f"[jetsons]\nlab1 ansible_host=10.0.0.5 ansible_user=jetson jetson_hil_profile={orin}\n"
    )
    got = _profiles(tmp_path, f"--ansible-inventory={tmp_path / 'hosts.ini'}")
    assert got["lab1"]["host"] == "ssh://jetson@10.0.0.5"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--sudo-user=admin"], "--sudo-user: the suite runs privileged commands as root with sudo -n"),
        (["--force-ansible"], "--force-ansible: the suite reads an Ansible inventory itself"),
        (["--hosts=orin", "--connection=ansible"], "use --ansible-inventory FILE"),
        (["--hosts=orin", "--connection=salt"], "--connection=salt: the suite reaches a device over ssh, paramiko"),
        (["--connection=ssh"], "--connection=ssh applies to --hosts entries"),
        (["--ssh-identity-file=/nonexistent/key"], "--ssh-identity-file /nonexistent/key: no such file"),
        (["--ssh-config=/nonexistent/config"], "--ssh-config /nonexistent/config: no such file"),
        (["--ssh-extra-args=-p 2222"], "only ssh -o Key=value options are taken"),
        (["--hosts=orin", "--host=ssh://orin"], "--hosts and --host both name the device's host"),
        (["--ansible-inventory=a.ini", "--inventory=b.ini"], "--ansible-inventory and --inventory both name"),
        (["--hosts=orin-a,orin-b", "--device=local"], "--hosts names several hosts but --device one profile"),
        (["--hosts=orin", "--device=local", "--device=sim"], "--hosts with a fleet would point every device"),
        (["--hosts=orin", "--ansible-inventory=hosts.ini"], "--hosts with a fleet would point every device"),
    ],
)
def test_an_option_that_cannot_be_honoured_is_refused_in_one_line(tmp_path, args, says):
    assert says in _refused(tmp_path, *args)


def test_host_urls_and_devices():
    assert testinfra_options.host_urls("local, docker://jetson-sim-x", None) == ["local://", "docker://jetson-sim-x"]
    assert testinfra_options.host_urls("orin", None) == ["ssh://orin"]
    assert testinfra_options.device_for_url("docker://jetson-sim-x").name == "jetson-sim-x"
    six = testinfra_options.device_for_url("ssh://root@[fe80::1]:22")
    assert six.mqtt_url == "mqtt://[fe80::1]:1883" and six.name == "fe80-1-22"
    with pytest.raises(testinfra_options.RefusedOption):
        testinfra_options.host_urls(" , ", None)
