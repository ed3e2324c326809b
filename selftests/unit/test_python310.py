"""The runner works on Python 3.10 (JetPack 6 hosts run Ubuntu 22.04's 3.10): everything the acceptance suite
imports is checked statically for 3.11-only syntax and standard library (vermin, and the parser's 3.10 grammar),
and tomli is declared where tomllib is missing. Why static: no CPython 3.10 can be installed on this Debian 12
machine (README, "Python 3.10"), so this check stands in for a 3.10 interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # the selftests run on the dev machine's 3.11+
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
VERMIN = Path(sys.executable).with_name("vermin")  # [dev]'s console script; python -m vermin does not run it


def runner_files() -> list[Path]:
    """What the acceptance suite imports or runs on the device: the library less the simulator, the fixtures,
    the tests, the root conftest, the runbook's scripts and the install decision bootstrap runs."""
    files = [p for p in (ROOT / "jetson_hil").rglob("*.py") if "sim" not in p.relative_to(ROOT).parts[1:2]]
    for folder in ("fixtures", "tests", "tools/jetson"):
        files += (ROOT / folder).rglob("*.py")
    files += [ROOT / "conftest.py", ROOT / "scripts" / "install_mode.py"]
    return sorted(files)


def test_the_runner_files_are_found():
    names = {str(p.relative_to(ROOT)) for p in runner_files()}
    assert {"jetson_hil/profile.py", "fixtures/options.py", "conftest.py", "tools/jetson/check_torch_cuda.py"} <= names
    assert not any(n.startswith("jetson_hil/sim/") for n in names)


def test_the_runner_parses_with_the_python_310_grammar():
    bad = []
    for path in runner_files():
        try:
            ast.parse(path.read_text(encoding="utf-8"), str(path), feature_version=(3, 10))
        except SyntaxError as exc:
            bad.append(f"{path.relative_to(ROOT)}:{exc.lineno}: {exc.msg}")
    assert not bad, "syntax newer than Python 3.10:\n" + "\n".join(bad)


def test_vermin_finds_nothing_newer_than_python_310():
    proc = subprocess.run(
        [str(VERMIN), "-t=3.10-", "--no-tips", "--violations", "--no-make-paths-absolute",
         *(str(p.relative_to(ROOT)) for p in runner_files())],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    errors = [line for line in proc.stdout.splitlines() if "error:" in line]  # a file vermin could not parse
    assert proc.returncode == 0 and not errors, "3.11+ only (vermin -t=3.10-):\n" + proc.stdout[-4000:] + proc.stderr


def test_tomli_is_declared_for_python_310_only():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.10"
    tomli = [Requirement(r) for r in project["dependencies"] if Requirement(r).name == "tomli"]
    assert len(tomli) == 1 and tomli[0].marker is not None
    env = default_environment()
    assert tomli[0].marker.evaluate({**env, "python_version": "3.10"})
    assert not tomli[0].marker.evaluate({**env, "python_version": "3.11"})
    assert any(Requirement(r).name == "vermin" for r in project["optional-dependencies"]["dev"])
