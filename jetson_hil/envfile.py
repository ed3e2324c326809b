"""Env files such as `config/jetson.env`: read, change one key, write back without disturbing the rest.

Tasks 3 and 5 change `VL_JEPA_DEVICE`, `VL_JEPA_BACKEND`, `EMBEDDING_GUARD_DIM`, ... and a remediation run
must restore the file exactly, so an unchanged file round-trips byte for byte: comments, blank lines, order,
`export ` prefixes, quoting, inline comments and CRLF line ends are all kept, and `set` rewrites only the
value of the one line it changes.

Syntax: what docker compose v2 accepts in an `env_file` (compose-spec/compose-go `dotenv/parser.go`):
- blank lines and lines whose first non-blank character is `#`;
- `[export ]KEY=VALUE` or the YAML-like `KEY: VALUE`; spaces around the separator are allowed; a key is
  letters, digits, `_`, `.`, `-`, `[`, `]`;
- a bare `KEY` (no value): compose takes the value from its own environment; here its value is None;
- unquoted values run to the end of the line, are cut at the first ` #` and right-stripped;
- `'single'` quotes are literal (only `\\'` is an escape); `"double"` quotes understand `\\n \\r \\t \\" \\\\ \\$`
  and friends; quoted values may span lines.
Values are returned as compose sees them except that `$VAR` / `${VAR}` references are left unexpanded
(`$$` and `\\$` do become `$`).

Choice for malformed input: every line compose would reject (bad key character, empty key, unterminated
quote) raises ParseError naming the line, rather than being kept verbatim, because docker compose refuses
the whole file in those cases and a test should say so before compose does. One deliberate difference:
text after a closing quote other than a ` # comment` (which compose would read as a second statement on
the same line) is also a ParseError.

>>> env = EnvFile.parse("# GPU path\\nVL_JEPA_DEVICE=cpu  # cpu|cuda\\n")
>>> env.get("VL_JEPA_DEVICE")
'cpu'
>>> env.set("VL_JEPA_DEVICE", "cuda").to_text()
'# GPU path\\nVL_JEPA_DEVICE=cuda  # cpu|cuda\\n'
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jetson_hil.errors import ParseError

__all__ = ["EnvFile", "EnvVar", "ParseError", "write_atomic"]

# compose-go's isSpace: horizontal white space, never a line break.
_HSPACE = "\t\v\f\r \x85\xa0"
_EXPORT = re.compile(r"export[ \t]+")
_UNQUOTED_OK = re.compile(r"[A-Za-z0-9_./:@%+,=~-]*")
_ESCAPES = re.compile(r"\\(?:[abcfnrtv$\"\\]|0[0-7]{0,3})")
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", '"': '"', "\\": "\\"}
_RENDER_ESCAPES = {
    "\\": "\\\\", '"': '\\"', "$": "\\$", "\n": "\\n", "\r": "\\r", "\t": "\\t",
    "\a": "\\a", "\b": "\\b", "\v": "\\v", "\f": "\\f",
}  # fmt: skip


def _valid_key_char(c: str) -> bool:
    return c in "_.-[]" or c.isalpha() or c.isnumeric()


@dataclass(frozen=True)
class EnvVar:
    """One assignment as written: key, decoded value (None for a bare `KEY`), where and how it is written."""

    key: str
    value: str | None
    line: int
    quote: str  # "", "'" or '"'
    export: bool


@dataclass
class _Entry:
    raw: str  # the exact source text, line end(s) included
    line: int
    key: str | None = None  # None: a blank or comment line
    prefix: str = ""  # indent, export, key and separator, as written
    value_raw: str = ""  # the value as written, quotes included
    suffix: str = ""  # after the value: spaces, comment, line end
    quote: str = ""
    value: str | None = None
    inherited: bool = False  # a bare KEY

    @property
    def export(self) -> bool:
        return bool(_EXPORT.match(self.prefix.lstrip(_HSPACE)))


def _decode_double(body: str) -> str:
    def one(m: re.Match[str]) -> str:
        seq = m[0][1:]
        if seq == "$":
            return "$$"  # compose turns \$ into $$, which interpolation then reads as a literal $
        if seq[0] == "0":
            return chr(int(seq[1:] or "0", 8))
        return _SIMPLE_ESCAPES.get(seq, m[0])  # \c has no meaning and stays as written

    return _ESCAPES.sub(one, body).replace("$$", "$")


def _scan_quoted(text: str, start: int, quote: str) -> tuple[str, int] | None:
    """Body of the quoted value starting at text[start] (the quote), and the index after the closing quote.

    As compose-go's extractQuotedValue: a backslash before the quote character drops; other backslashes stay.
    """
    chars: list[str] = []
    escaped = False
    for i in range(start + 1, len(text)):
        c = text[i]
        if escaped:
            escaped = False
            if c != quote:
                chars.append("\\")
            chars.append(c)
        elif c == "\\":
            escaped = True
        elif c == quote:
            return "".join(chars), i + 1
        else:
            chars.append(c)
    return None


class EnvFile:
    """An env file kept as its source lines; reads decode values, writes touch only the changed line."""

    def __init__(self, entries: list[_Entry], source: str = "<text>") -> None:
        self._entries = entries
        self.source = source

    # ---------------------------------------------------------------------------------------------- read

    @classmethod
    def parse(cls, text: str, source: str = "<text>") -> EnvFile:
        """Parse env-file text; ParseError (naming source and line) for what docker compose would refuse."""
        if not isinstance(text, str):
            raise TypeError(f"EnvFile.parse needs a str, got {type(text).__name__}")
        entries: list[_Entry] = []
        pos, line = 0, 1
        while pos < len(text):
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end + 1
            physical = text[pos:end]
            stripped = physical.strip()
            if not stripped or stripped.startswith("#"):
                entries.append(_Entry(raw=physical, line=line))
                pos, line = end, line + 1
                continue
            entry, pos = cls._statement(text, pos, line, source)
            entries.append(entry)
            line += entry.raw.count("\n")
        return cls(entries, source)

    @staticmethod
    def _statement(text: str, pos: int, line: int, source: str) -> tuple[_Entry, int]:
        eol = text.find("\n", pos)
        eol = len(text) if eol < 0 else eol
        physical = text[pos:eol]

        def fail(message: str) -> ParseError:
            return ParseError(f"{source}: {message}", physical, line_number=line)

        i = pos
        while i < eol and text[i] in _HSPACE:
            i += 1
        m = _EXPORT.match(text, i, eol)
        if m:
            i = m.end()
        key_start = i
        separator = None
        while i < eol:
            c = text[i]
            if c in "=:":
                separator = c
                break
            if not (c in _HSPACE or _valid_key_char(c)):
                raise fail(f"unexpected character {c!r} in variable name")
            i += 1
        key_text = text[key_start:i].strip(_HSPACE)
        if not key_text:
            raise fail("empty variable name")
        if any(c in _HSPACE for c in key_text):
            raise fail("variable name cannot contain a space")
        end = eol + 1 if eol < len(text) else eol
        if separator is None:  # bare KEY: compose reads its value from its own environment
            key_end = pos + len(physical.rstrip(_HSPACE))
            bare = _Entry(text[pos:end], line, key_text, prefix=text[pos:key_end], suffix=text[key_end:end])
            bare.inherited = True
            return bare, end
        i += 1
        while i < eol and text[i] in _HSPACE:
            i += 1
        # An empty value leaves the blanks (a CR of a CRLF line among them) to the suffix, not the prefix.
        value_start = i if i < eol else pos + len(physical[: i - pos].rstrip(_HSPACE))
        if i < eol and text[i] in "'\"":
            quote = text[i]
            scanned = _scan_quoted(text, i, quote)
            if scanned is None:
                raise fail("unterminated quoted value")
            body, after = scanned
            rest_end = text.find("\n", after)
            rest_end = len(text) if rest_end < 0 else rest_end
            rest = text[after:rest_end]
            if rest.strip(_HSPACE) and not rest.lstrip(_HSPACE).startswith("#"):
                raise fail(f"unexpected text after the closing quote: {rest.strip()!r}")
            end = rest_end + 1 if rest_end < len(text) else rest_end
            value = _decode_double(body) if quote == '"' else body
            return (
                _Entry(
                    raw=text[pos:end],
                    line=line,
                    key=key_text,
                    prefix=text[pos:value_start],
                    value_raw=text[value_start:after],
                    suffix=text[after:end],
                    quote=quote,
                    value=value,
                ),
                end,
            )
        segment = text[value_start:eol]
        value_raw = segment.split(" #", 1)[0].rstrip()
        value_end = value_start + len(value_raw)
        entry = _Entry(
            raw=text[pos:end],
            line=line,
            key=key_text,
            prefix=text[pos:value_start],
            value_raw=value_raw,
            suffix=text[value_end:end],
            value=value_raw.replace("$$", "$"),
        )
        return entry, end

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> EnvFile:
        """Read a file as UTF-8 with its line ends untouched."""
        with open(path, encoding="utf-8", newline="") as f:
            return cls.parse(f.read(), source=str(path))

    def _find(self, key: str) -> _Entry | None:
        for entry in reversed(self._entries):
            if entry.key == key:
                return entry
        return None

    def get(self, key: str, default: str | None = None) -> str | None:
        """The value compose would use (the last assignment wins); None for a bare `KEY`; default if absent."""
        entry = self._find(key)
        return default if entry is None else entry.value

    def __getitem__(self, key: str) -> str | None:
        entry = self._find(key)
        if entry is None:
            raise KeyError(f"{key} is not set in {self.source}")
        return entry.value

    def __contains__(self, key: object) -> bool:
        return any(entry.key == key for entry in self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self) -> list[str]:
        """Keys in the order of their first assignment."""
        return list(dict.fromkeys(e.key for e in self._entries if e.key is not None))

    def as_dict(self) -> dict[str, str | None]:
        return {key: self.get(key) for key in self.keys()}

    def variables(self) -> list[EnvVar]:
        """Every assignment as written, duplicates included."""
        return [
            EnvVar(key=e.key, value=e.value, line=e.line, quote=e.quote, export=e.export)
            for e in self._entries
            if e.key is not None
        ]

    def to_text(self) -> str:
        return "".join(entry.raw for entry in self._entries)

    # --------------------------------------------------------------------------------------------- write

    def set(self, key: str, value: str) -> EnvFile:
        """Assign value to key: rewrite the key's last assignment in place (keeping its `export`, separator,
        quoting style where the value allows it and inline comment), or append `KEY=value` at the end.
        Quotes are added only when the value needs them. Returns self.
        """
        if not isinstance(value, str):
            raise TypeError(f"{key}: env-file values are strings, got {type(value).__name__}")
        if not key or not all(_valid_key_char(c) for c in key):
            raise ValueError(f"{key!r} is not a valid env-file key (letters, digits, _ . - [ ])")
        entry = self._find(key)
        if entry is None:
            newline = "\r\n" if "\r\n" in self.to_text() else "\n"
            if self._entries and not self._entries[-1].raw.endswith("\n"):
                self._entries[-1].raw += newline
                self._entries[-1].suffix += newline
            rendered, quote = _render(value, "")
            line = self._entries[-1].line + self._entries[-1].raw.count("\n") if self._entries else 1
            entry = _Entry(f"{key}={rendered}{newline}", line, key, f"{key}=", rendered, newline, quote, value)
            self._entries.append(entry)
            return self
        if entry.inherited:
            entry.prefix += "="  # a bare KEY gains a value
            entry.inherited = False
        rendered, quote = _render(value, entry.quote)
        if rendered == "" and entry.suffix.lstrip(_HSPACE).startswith("#"):
            rendered, quote = '""', '"'  # `A= # note` would read as the value "# note"
        entry.value_raw, entry.quote, entry.value = rendered, quote, value
        entry.raw = entry.prefix + rendered + entry.suffix
        return self

    def unset(self, key: str) -> bool:
        """Remove every assignment of key; whether there was one."""
        before = len(self._entries)
        self._entries = [e for e in self._entries if e.key != key]
        return len(self._entries) != before

    def write(self, path: str | os.PathLike[str] | None = None) -> None:
        """Write atomically to path (default: the file it was read from)."""
        write_atomic(path if path is not None else self.source, self.to_text())


def _render(value: str, preferred: str) -> tuple[str, str]:
    """The value as written, and its quote: the preferred style when it can carry the value, else the
    plainest that can (none, then single quotes for `$` or backslashes, else double quotes)."""
    unquoted = bool(_UNQUOTED_OK.fullmatch(value))
    single = not any(c in value for c in "'\\\n\r") and value.isprintable()
    if preferred == "" and unquoted:
        return value, ""
    if preferred == "'" and single:
        return f"'{value}'", "'"
    if preferred == '"':
        return _double(value), '"'
    if unquoted:
        return value, ""
    if single and ("$" in value or "\\" in value):
        return f"'{value}'", "'"
    return _double(value), '"'


def _double(value: str) -> str:
    return '"' + "".join(_RENDER_ESCAPES.get(c, c) for c in value) + '"'


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Replace path's content with text so that readers see the old file or the new one, never a mix.

    A temporary file in the same directory is written, fsynced, given the old file's mode (and owner, when
    allowed), renamed over the target and the directory fsynced. A symlink is followed: its target is
    replaced and the link kept. Line ends are written as they are in text.
    """
    target = Path(os.path.realpath(path))
    try:
        st = target.stat()
        mode, owner = stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid)
    except FileNotFoundError:
        mode, owner = 0o666 & ~_umask(), None
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if owner is not None and hasattr(os, "chown"):
            with contextlib.suppress(PermissionError):
                os.chown(tmp, *owner)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(target.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
