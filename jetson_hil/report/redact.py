"""What of the device's env file a report may show, and the scrub that keeps the rest out of every artefact.

The report (which the runbook commits into the design doc) shows only the keys the runbook reads:
``VL_JEPA_*`` and ``EMBEDDING_GUARD_*`` (the profile names no other env-file key), minus any whose name reads as a
credential, with the password of any URL in a value as ``***``. Every other key is listed with ``***``. A list of
secret-sounding names (PASSWORD, TOKEN, ...) is not the rule: it misses ``DB_PASS``, ``*_AUTH`` and a password
inside ``MQTT_URL``.

Hidden values can still reach a file by another road (an agent that logs its broker URL, a failure message), so
`Scrubber` remembers every hidden value and every URL password of the env file and replaces them in each file the
run writes. Values shorter than `MIN_SCAN_CHARS` are not searched for (``1``, ``on``: replacing them would
blank the report, and they hide nothing); a value is matched only where it is not part of a longer word
(``1883`` is not replaced inside ``18830``).

>>> redact_env({"VL_JEPA_DEVICE": "cuda", "DB_PASS": "hunter22", "VL_JEPA_URL": "mqtt://u:pw@b"})
{'VL_JEPA_DEVICE': 'cuda', 'DB_PASS': '***', 'VL_JEPA_URL': 'mqtt://u:***@b'}
>>> s = Scrubber(); s.learn({"VL_JEPA_DEVICE": "cuda", "DB_PASS": "hunter22"})
>>> s.text("login hunter22 on cuda, not hunter222")
'login *** on cuda, not hunter222'
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jetson_hil.profile import URL_PASSWORD, hide_url_password

SHOWN_PREFIXES = ("VL_JEPA_", "EMBEDDING_GUARD_")
CREDENTIAL_NAME = re.compile(r"PASS|PWD|TOKEN|SECRET|KEY|AUTH|CREDENTIAL|PRIVATE|COOKIE|SESSION|SIGNATURE", re.I)
HIDDEN = "***"
MIN_SCAN_CHARS = 4
DATA_URI = re.compile(r"(data:[\w.+/-]+(?:;[\w.+-]+=[\w.+-]+)*;base64,)([A-Za-z0-9+/]+={0,2})")


def shown(key: str) -> bool:
    """True for a key whose value the report may show: one the runbook reads, not named like a credential.

    >>> shown("VL_JEPA_FP16"), shown("EMBEDDING_GUARD_DIM"), shown("MQTT_URL"), shown("VL_JEPA_HF_TOKEN")
    (True, True, False, False)
    """
    return key.startswith(SHOWN_PREFIXES) and not CREDENTIAL_NAME.search(key)


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """The env as the report shows it: shown keys with URL passwords as ``***``, every other value ``***``."""
    return {k: hide_url_password(str(v)) if shown(k) else HIDDEN for k, v in env.items()}


def scan_values(env: Mapping[str, str], also: Iterable[str | None] = ()) -> set[str]:
    """What must appear in no artefact: every hidden value, every URL password in any value, and `also`;
    without values shorter than MIN_SCAN_CHARS and without values the report shows anyway.

    >>> sorted(scan_values({"X_AUTH": "abcd", "PIN": "123", "VL_JEPA_URL": "mqtt://u:pass9@b", "Y": "cuda",
    ...                     "VL_JEPA_DEVICE": "cuda"}, also=["brokerpw", None]))
    ['abcd', 'brokerpw', 'pass9']
    """
    public = {hide_url_password(str(v)) for k, v in env.items() if shown(k)}
    found = {str(v) for k, v in env.items() if not shown(k)}
    found |= {m.group(2) for v in env.values() for m in URL_PASSWORD.finditer(str(v))}
    found |= {v for v in also if v}
    return {v for v in found if len(v) >= MIN_SCAN_CHARS and v not in public}


def _forms(value: str) -> set[str]:
    """The ways `value` is written in our files: as is, JSON-escaped, HTML/XML-escaped, both, URL-quoted."""
    escaped = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    return escaped | {html.escape(f, quote=q) for f in escaped for q in (True, False)} | {quote(value, safe="")}


def _pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    forms = sorted({f for v in values for f in _forms(v)}, key=len, reverse=True)
    if not forms:
        return None
    return re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, forms)) + r")(?![A-Za-z0-9])")


class Scrubber:
    """The run's hidden values, learnt from the env file as the report reads it, and their removal from text,
    JSON data and files. Thread-safe: the report reads the env file in a background thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._compiled: re.Pattern[str] | None = None

    @property
    def values(self) -> frozenset[str]:
        return frozenset(self._values)

    def learn(self, env: Mapping[str, str], also: Iterable[str | None] = ()) -> None:
        self.learn_values(scan_values(env, also))

    def learn_values(self, values: Iterable[str]) -> None:
        with self._lock:
            self._values |= {v for v in values if v and len(v) >= MIN_SCAN_CHARS}
            self._compiled = _pattern(self._values)

    def reading(self, read: Callable[[], Mapping[str, str]], also: Iterable[str | None] = ()) -> Callable[[], Any]:
        """`read` (the env file's reader) that also learns what it read."""
        extra = tuple(also)

        def read_and_learn() -> Mapping[str, str]:
            env = read()
            self.learn(env, extra)
            return env

        return read_and_learn

    def text(self, text: str) -> str:
        """`text` with every hidden value as ``***``, also inside base64 data URIs (pytest-html's extras)."""
        pattern = self._compiled
        if pattern is None:
            return text
        out, last = [], 0
        for m in DATA_URI.finditer(text):
            out += [pattern.sub(HIDDEN, text[last : m.start()]), m.group(1), self._base64(m.group(2))]
            last = m.end()
        out.append(pattern.sub(HIDDEN, text[last:]))
        return "".join(out)

    def _base64(self, data: str) -> str:
        try:
            decoded = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):  # an image: left as it is
            return data
        clean = self.text(decoded)
        return data if clean == decoded else base64.b64encode(clean.encode("utf-8")).decode("ascii")

    def data(self, value: Any) -> Any:
        """JSON data with every string (keys too) scrubbed; numbers and booleans as they are."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return value

    def file(self, path: Path) -> bool:
        """Scrubs one file in place (JSON as data, other UTF-8 text as text, binary files left); True if changed."""
        if self._compiled is None:
            return False
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return False
        clean = self._json(text) if path.suffix == ".json" else None
        if clean is None:
            clean = self.text(text)
        if clean == text:
            return False
        tmp = path.with_name(path.name + ".scrub.tmp")
        tmp.write_bytes(clean.encode("utf-8"))
        tmp.replace(path)
        return True

    def _json(self, text: str) -> str | None:
        try:
            doc = json.loads(text)
        except ValueError:
            return None
        clean = self.data(doc)
        if clean == doc:
            return text
        indent = 2 if text.lstrip().startswith(("{\n", "[\n")) else None
        return json.dumps(clean, indent=indent) + ("\n" if text.endswith("\n") else "")

    def tree(self, *paths: Path) -> list[Path]:
        """Scrubs every file under the given directories (and the given files); returns those it changed."""
        files: list[Path] = []
        for p in paths:
            files += sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p] if p.is_file() else []
        return [f for f in dict.fromkeys(files) if self.file(f)]
