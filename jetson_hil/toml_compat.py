"""`tomllib` on Python 3.11+, and the same parser from PyPI (`tomli`) on 3.10 (JetPack 6's Ubuntu 22.04)."""

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

__all__ = ["tomllib"]
