"""The device's identity at the top of the page and of the CI summary: module, L4T, JetPack, agent image, the
suite's commit and the agents' project commit (jetson_hil.report.page.identity, device_facts.suite_commit and
project_commit)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

from test_history import HEALTHY, _doc, _passed

from jetson_hil.report import device_facts, page

ROOT = Path(__file__).resolve().parents[2]


def test_suite_commit_is_this_checkout_and_none_outside_one(tmp_path):
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert device_facts.suite_commit(ROOT).split("-")[0] == head.strip()[:12]
    assert device_facts.suite_commit(tmp_path) is None


def _facts(rc: int, stdout: str) -> SimpleNamespace:
    return SimpleNamespace(run=lambda command: SimpleNamespace(ok=rc == 0, stdout=stdout, command=command))


def test_project_commit_only_where_the_project_is_a_git_checkout():
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert device_facts.project_commit(_facts(0, sha + "\n"), "/home/jetson/agents") == sha
    not_git = "fatal: not a git repository (or any of the parent directories): .git"
    assert device_facts.project_commit(_facts(128, not_git), "/home/jetson/agents") is None
    assert device_facts.project_commit(_facts(127, "sh: 1: git: not found"), "/x") is None


def test_identity_of_a_real_run_leads_the_page():
    doc = _doc(_passed(HEALTHY))
    shown = dict(page.identity(doc))
    assert shown["device"] == HEALTHY and shown["L4T"] == doc["device"]["l4t"]
    assert shown["module"] == doc["device"]["module"]["name"] and shown["suite commit"] == doc["run"]["suite_commit"]
    blocks = page.sections(doc, {})
    assert blocks[0].startswith('<h2 id="jetson-hil-run">') and 'class="jetson-hil-identity"' in blocks[0]
