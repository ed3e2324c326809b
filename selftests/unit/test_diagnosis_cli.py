"""`jetson-hil diagnose FILE|-`: the operator's way to diagnose a pasted log; its output names id, cause, fix and
evidence, and its exit code says none (0), found (1) or unreadable input (2) with a one-line cause."""

from __future__ import annotations

import io
import json

from jetson_hil import cli

LOG = (
    "Creating vl_jepa_agent ... error\n"
    "ERROR: for vl_jepa  Cannot create container for service vl_jepa: Unknown runtime specified nvidia\n"
)


def test_diagnose_a_file(tmp_path, capsys):
    log = tmp_path / "compose.log"
    log.write_text(LOG)
    assert cli.main(["diagnose", str(log)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("nvidia_runtime_missing (nvidia runtime)\n  cause:    Docker has no `nvidia` runtime")
    assert "  fix:      install the NVIDIA container toolkit" in out
    assert f"  evidence: {log}:2: ERROR: for vl_jepa  Cannot create container" in out


def test_diagnose_stdin_as_json(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("ok\nsudo: a password is required\n"))
    assert cli.main(["diagnose", "--json", "-"]) == 1
    (d,) = json.loads(capsys.readouterr().out)
    assert d["id"] == "sudo_password_required" and d["where"] == "stdin" and d["line"] == 2
    assert d["evidence"] == "sudo: a password is required" and d["cause"] and d["fix"]


def test_nothing_found_exits_0(monkeypatch, capsys):
    healthy = "2026-02-01T10:00:00.141Z vl_jepa: MQTT connected to 127.0.0.1:1883\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(healthy))
    assert cli.main(["diagnose", "-"]) == 0
    assert capsys.readouterr().out == "no known failure signature found\n"


def test_unreadable_input_is_one_line(tmp_path, capsys):
    assert cli.main(["diagnose", str(tmp_path / "missing.log")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("jetson-hil diagnose: cannot read ") and "Traceback" not in err
