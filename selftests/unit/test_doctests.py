"""The library's docstring examples run: a `>>>` example that no longer holds is a wrong docstring."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import jetson_hil

MODULES = sorted(m.name for m in pkgutil.walk_packages(jetson_hil.__path__, "jetson_hil.")
                 if not m.name.startswith("jetson_hil.sim.agents"))  # the agents run inside the images


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} fail (run `python -m " \
                               f"pytest --doctest-modules {name.replace('.', '/')}.py` to see them)"
