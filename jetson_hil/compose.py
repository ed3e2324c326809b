"""The device's docker compose file, read into typed services.

The suite needs to know, without asking the engine, how the project means to run: which container is
`vl_jepa` (`container_name: vl_jepa_agent`), which image or Dockerfile it is built from (Task 4), which
env files feed it (`config/jetson.env`, Tasks 3 and 5), whether it asks for `runtime: nvidia`, and which
devices and volumes (the `/mnt/ssd` engine path of Task 5) it gets.

YAML: PyYAML when it is importable, with YAML 1.2 booleans (only true/false, as the Go YAML library of
docker compose reads them: `yes`, `on` stay strings). Otherwise a built-in reader for the block-style
subset compose files use (mappings, sequences, plain/quoted scalars, flow `[..]` / `{..}`, `|` / `>`
block scalars, comments); anchors, aliases, tags and complex keys need PyYAML and raise ParseError.
`${VAR}` interpolation is not performed: values are kept as written.

>>> project = ComposeProject.loads('''
... services:
...   vl_jepa:
...     container_name: vl_jepa_agent
...     build: {context: ., dockerfile: docker/vl_jepa/Dockerfile}
...     env_file: config/jetson.env
...     runtime: nvidia
... ''')
>>> svc = project.by_container("vl_jepa_agent")
>>> svc.name, svc.build.dockerfile, svc.env_file, svc.runtime
('vl_jepa', 'docker/vl_jepa/Dockerfile', ['config/jetson.env'], 'nvidia')
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetson_hil.envfile import EnvFile
from jetson_hil.errors import ParseError

__all__ = [
    "YAML_BACKEND",
    "BuildSpec",
    "ComposeProject",
    "Mount",
    "ParseError",
    "Service",
    "load_yaml",
]

try:  # PyYAML is optional: the project does not depend on it.
    import yaml as _yaml
except ImportError:  # pragma: no cover - depends on the environment
    _yaml = None

YAML_BACKEND = "pyyaml" if _yaml is not None else "builtin"


# --------------------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class BuildSpec:
    """`build:` in its short (a context path) or long form."""

    context: str
    dockerfile: str | None = None
    args: dict[str, str | None] = field(default_factory=dict)
    target: str | None = None


@dataclass(frozen=True)
class Mount:
    """One `volumes:` entry; type is 'bind' (a path source), 'volume' (a named or anonymous volume) or
    what the long syntax says."""

    target: str
    source: str | None = None
    read_only: bool = False
    type: str = "volume"
    spec: str = ""  # the entry as written in the short syntax

    @classmethod
    def parse(cls, entry: Any, where: str, source: str) -> Mount:
        if isinstance(entry, str):
            parts = entry.split(":")
            if len(parts) == 1:
                return cls(target=parts[0], spec=entry)
            if len(parts) > 3 or not parts[0] or not parts[1]:
                raise ParseError(f"{source}: {where}: expected [SOURCE:]TARGET[:MODE]", entry)
            mode = parts[2] if len(parts) == 3 else ""
            src = parts[0]
            kind = "bind" if src.startswith(("/", ".", "~", "$")) else "volume"
            return cls(target=parts[1], source=src, read_only="ro" in mode.split(","), type=kind, spec=entry)
        if isinstance(entry, dict):
            target = entry.get("target")
            if not isinstance(target, str):
                raise ParseError(f"{source}: {where}.target: a volume needs a target path", repr(entry))
            src = entry.get("source")
            return cls(
                target=target,
                source=None if src is None else str(src),
                read_only=bool(entry.get("read_only", False)),
                type=str(entry.get("type", "volume")),
            )
        raise ParseError(f"{source}: {where}: expected a string or a mapping", repr(entry))


@dataclass(frozen=True)
class Service:
    """A service as the compose file declares it; raw keeps the whole mapping for anything else."""

    name: str
    container_name: str | None = None
    image: str | None = None
    build: BuildSpec | None = None
    env_file: list[str] = field(default_factory=list)
    environment: dict[str, str | None] = field(default_factory=dict)
    runtime: str | None = None
    devices: list[str] = field(default_factory=list)
    volumes: list[Mount] = field(default_factory=list)
    restart: str | None = None
    network_mode: str | None = None
    depends_on: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def env_file_paths(self, project_dir: str | os.PathLike[str]) -> list[Path]:
        """env_file entries resolved against the project directory, as compose resolves them."""
        base = Path(project_dir)
        return [Path(os.path.expanduser(p)) if p.startswith("~") else base / p for p in self.env_file]

    @property
    def gpu_requested(self) -> bool:
        """Whether the service asks for the GPU: `runtime: nvidia` or a deploy device with the gpu capability."""
        if self.runtime == "nvidia":
            return True
        deploy = self.raw.get("deploy")
        try:
            devices = deploy["resources"]["reservations"]["devices"]  # type: ignore[index]
        except (KeyError, TypeError):
            return False
        return any(isinstance(d, dict) and "gpu" in (d.get("capabilities") or []) for d in devices or [])


def _text(value: Any) -> str | None:
    """A scalar as compose turns it into a string (true/false lower case, numbers as written)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Reader:
    """Typed access to one service mapping; every error names the file and the key."""

    def __init__(self, service: str, data: dict[str, Any], source: str) -> None:
        self.service, self.data, self.source = service, data, source

    def fail(self, key: str, expected: str, value: Any) -> ParseError:
        got = type(value).__name__
        return ParseError(f"{self.source}: services.{self.service}.{key}: expected {expected}, got {got}", repr(value))

    def string(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, (dict, list)):
            raise self.fail(key, "a string", value)
        return _text(value)

    def strings(self, key: str, *, allow_str: bool = False, mapping_key: str | None = None) -> list[str]:
        value = self.data.get(key)
        if value is None:
            return []
        if isinstance(value, str) and allow_str:
            return [value]
        if not isinstance(value, list):
            raise self.fail(key, "a list" + (" or a string" if allow_str else ""), value)
        out = []
        for i, item in enumerate(value):
            if isinstance(item, dict) and mapping_key and isinstance(item.get(mapping_key), str):
                out.append(item[mapping_key])
            elif isinstance(item, (str, int, float)) and not isinstance(item, bool):
                out.append(str(item))
            else:
                raise self.fail(f"{key}[{i}]", "a string", item)
        return out

    def environment(self) -> dict[str, str | None]:
        value = self.data.get("environment")
        if value is None:
            return {}
        if isinstance(value, dict):
            out: dict[str, str | None] = {}
            for k, v in value.items():
                if isinstance(v, (dict, list)):
                    raise self.fail(f"environment.{k}", "a scalar", v)
                out[str(k)] = _text(v)
            return out
        if isinstance(value, list):
            out = {}
            for i, item in enumerate(value):
                if not isinstance(item, str) or not item or item.startswith("="):
                    raise self.fail(f"environment[{i}]", "'KEY=VALUE' or 'KEY'", item)
                k, eq, v = item.partition("=")
                out[k] = v if eq else None
            return out
        raise self.fail("environment", "a list or a mapping", value)

    def build(self) -> BuildSpec | None:
        value = self.data.get("build")
        if value is None:
            return None
        if isinstance(value, str):
            return BuildSpec(context=value)
        if not isinstance(value, dict):
            raise self.fail("build", "a path or a mapping", value)
        context = value.get("context", ".")
        if not isinstance(context, str):
            raise self.fail("build.context", "a path", context)
        dockerfile = value.get("dockerfile")
        if dockerfile is not None and not isinstance(dockerfile, str):
            raise self.fail("build.dockerfile", "a path", dockerfile)
        args = value.get("args") or {}
        if isinstance(args, list):
            pairs = [a.partition("=") for a in args if isinstance(a, str)]
            args = {name: value if sep else None for name, sep, value in pairs}
        if not isinstance(args, dict):
            raise self.fail("build.args", "a list or a mapping", args)
        target = value.get("target")
        return BuildSpec(
            context=context,
            dockerfile=dockerfile,
            args={str(k): _text(v) for k, v in args.items()},
            target=None if target is None else str(target),
        )

    def depends_on(self) -> list[str]:
        value = self.data.get("depends_on")
        if isinstance(value, dict):
            return [str(k) for k in value]
        return self.strings("depends_on")

    def volumes(self) -> list[Mount]:
        value = self.data.get("volumes")
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail("volumes", "a list", value)
        return [Mount.parse(v, f"services.{self.service}.volumes[{i}]", self.source) for i, v in enumerate(value)]


@dataclass
class ComposeProject:
    """A compose file's services; name is the top-level `name:` or the directory's name, as compose does."""

    services: dict[str, Service]
    name: str | None = None
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ComposeProject:
        """Read a compose file; ParseError names the file (and the key) when it is not a valid one.

        The project name is, as compose has it: the file's `name:`, else COMPOSE_PROJECT_NAME from the
        project directory's `.env`, else the directory's name.
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"{p}: not UTF-8 text ({exc.reason})", repr(exc.object[:60])) from exc
        project = cls.loads(text, source=str(p), project_dir=p.parent)
        project.path = p
        return project

    @classmethod
    def loads(
        cls, text: str, source: str = "<text>", project_dir: str | os.PathLike[str] | None = None
    ) -> ComposeProject:
        """Parse compose YAML text; project_dir (when given) supplies the default project name."""
        project = cls.from_dict(load_yaml(text, source), source)
        if project.name is None and project_dir is not None:
            dot_env = Path(project_dir) / ".env"
            if dot_env.is_file():
                project.name = EnvFile.read(dot_env).get("COMPOSE_PROJECT_NAME") or None
            if project.name is None:
                project.name = _normalize_project_name(Path(project_dir).resolve().name)
        return project

    @classmethod
    def from_dict(cls, data: Any, source: str = "<text>") -> ComposeProject:
        """Build from already-loaded data (e.g. `docker compose config --format json`)."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ParseError(f"{source}: top level: expected a mapping, got {type(data).__name__}", repr(data))
        services_data = data.get("services") or {}
        if not isinstance(services_data, dict):
            got = type(services_data).__name__
            raise ParseError(f"{source}: services: expected a mapping, got {got}", repr(services_data))
        services: dict[str, Service] = {}
        for name, body in services_data.items():
            name = str(name)
            if body is None:
                body = {}
            if not isinstance(body, dict):
                got = type(body).__name__
                raise ParseError(f"{source}: services.{name}: expected a mapping, got {got}", repr(body))
            r = _Reader(name, body, source)
            services[name] = Service(
                name=name,
                container_name=r.string("container_name"),
                image=r.string("image"),
                build=r.build(),
                env_file=r.strings("env_file", allow_str=True, mapping_key="path"),
                environment=r.environment(),
                runtime=r.string("runtime"),
                devices=r.strings("devices", mapping_key="source"),
                volumes=r.volumes(),
                restart=r.string("restart"),
                network_mode=r.string("network_mode"),
                depends_on=r.depends_on(),
                raw=body,
            )
        name = data.get("name")
        return cls(services=services, name=None if name is None else str(name), raw=data)

    @property
    def project_dir(self) -> Path | None:
        return self.path.parent if self.path is not None else None

    def service(self, name: str) -> Service:
        try:
            return self.services[name]
        except KeyError:
            raise KeyError(
                f"no service {name!r} in {self.path or 'the compose file'}; services: {', '.join(self.services)}"
            ) from None

    def by_container(self, container: str) -> Service:
        """The service whose container has this name: its container_name, or compose's default
        `<project>-<service>-1` (v2) / `<project>_<service>_1` (v1)."""
        for svc in self.services.values():
            if svc.container_name == container:
                return svc
        if self.name:
            for svc in self.services.values():
                if svc.container_name is None and container in (
                    f"{self.name}-{svc.name}-1",
                    f"{self.name}_{svc.name}_1",
                ):
                    return svc
        names = ", ".join(s.container_name or f"{self.name or '<project>'}-{s.name}-1" for s in self.services.values())
        raise KeyError(f"no service runs a container named {container!r}; containers: {names}")


def _normalize_project_name(name: str) -> str:
    """compose's default project name: the directory name, lower case, only [a-z0-9_-]."""
    return re.sub(r"[^a-z0-9_-]", "", name.lower()) or "default"


# --------------------------------------------------------------------------------------------------------
# YAML


def load_yaml(text: str, source: str = "<text>", *, backend: str | None = None) -> Any:
    """Load one YAML document; backend 'pyyaml' or 'builtin' (default: PyYAML when installed).

    Every failure is a ParseError naming the source (and the line where known).
    """
    if not isinstance(text, str):
        raise TypeError(f"load_yaml needs a str, got {type(text).__name__}")
    backend = backend or YAML_BACKEND
    if backend == "pyyaml":
        if _yaml is None:
            raise ParseError(f"{source}: PyYAML is not installed", "import yaml")
        try:
            return _yaml.load(text, Loader=_compose_loader())  # noqa: S506 - a SafeLoader subclass
        except _yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark else None
            raise ParseError(f"{source}: {exc.problem or exc}", _line(text, line), line_number=line) from exc
        except Exception as exc:  # PyYAML's constructors raise ValueError, RecursionError, ...
            raise ParseError(f"{source}: {type(exc).__name__}: {exc}", text[:80]) from exc
    if backend == "builtin":
        try:
            return _MiniYaml(text, source).document()
        except RecursionError as exc:
            raise ParseError(f"{source}: nesting too deep", text[:80]) from exc
    raise ValueError(f"unknown YAML backend {backend!r}; 'pyyaml' or 'builtin'")


def _line(text: str, number: int | None) -> str:
    if number is None:
        return text[:80]
    lines = text.splitlines()
    return lines[number - 1] if 0 < number <= len(lines) else ""


_LOADER: Any = None


def _compose_loader() -> Any:
    """A SafeLoader whose booleans are YAML 1.2's (true/false only), as compose's Go YAML reads them."""
    global _LOADER
    if _LOADER is None:
        bool_tag = "tag:yaml.org,2002:bool"

        class ComposeLoader(_yaml.SafeLoader):  # type: ignore[name-defined,misc]
            def construct_mapping(self, node: Any, deep: bool = False) -> Any:
                """Compose refuses a key given twice in one mapping; PyYAML alone keeps the last."""
                seen: set[Any] = set()
                for key_node, _ in node.value:
                    key = self.construct_object(key_node, deep=deep)
                    if isinstance(key, str | int | float | bool) and key in seen:
                        raise _yaml.constructor.ConstructorError(
                            "while constructing a mapping", node.start_mark,
                            f"found duplicate key {key!r}", key_node.start_mark)
                    seen.add(key)
                return super().construct_mapping(node, deep=deep)

        ComposeLoader.yaml_implicit_resolvers = {
            first: [(tag, rx) for tag, rx in resolvers if tag != bool_tag]
            for first, resolvers in _yaml.SafeLoader.yaml_implicit_resolvers.items()
        }
        ComposeLoader.add_implicit_resolver(
            bool_tag, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
        )
        _LOADER = ComposeLoader
    return _LOADER


_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_SPECIAL_FLOATS = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf"), ".nan": float("nan")}
_KEY_END = re.compile(r":(?:[ \t]|$)")
_DQ_ESCAPES = {
    "0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r",
    "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029",
}  # fmt: skip
_MAX_DEPTH = 64


def _resolve_plain(value: str) -> Any:
    """A plain scalar under YAML 1.2's core schema."""
    if value in ("", "~", "null", "Null", "NULL"):
        return None
    if value in ("true", "True", "TRUE"):
        return True
    if value in ("false", "False", "FALSE"):
        return False
    if _INT.fullmatch(value):
        if value.startswith("0o"):
            return int(value[2:], 8)
        if value.startswith("0x"):
            return int(value[2:], 16)
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    if value.lower() in _SPECIAL_FLOATS and value[-3:] in ("inf", "Inf", "INF", "nan", "NaN", "NAN"):
        return _SPECIAL_FLOATS[value.lower()]
    return value


class _MiniYaml:
    """A reader for the block-style YAML that compose files are written in (see the module docstring)."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if self.lines[-1] == "":
            self.lines.pop()  # the final line break ends the last line; it does not start another
        self.depth = 0

    def fail(self, message: str, index: int | None = None) -> ParseError:
        if index is None or not 0 <= index < len(self.lines):
            return ParseError(f"{self.source}: {message}", "")
        return ParseError(f"{self.source}: {message}", self.lines[index], line_number=index + 1)

    # ------------------------------------------------------------------ lines

    def significant(self, i: int) -> int:
        """Index of the next line with content (not blank, not a comment), or len(lines)."""
        while i < len(self.lines):
            stripped = self.lines[i].strip()
            if stripped and not stripped.startswith("#"):
                return i
            i += 1
        return i

    def indent(self, i: int) -> int:
        line = self.lines[i]
        n = len(line) - len(line.lstrip(" "))
        if line[n : n + 1] == "\t":
            raise self.fail("tabs are not allowed in YAML indentation", i)
        return n

    def document(self) -> Any:
        lines = self.lines
        for i, line in enumerate(lines):
            if line.startswith("%"):
                raise self.fail("YAML directives need PyYAML", i)
        start = self.significant(0)
        if start < len(lines) and lines[start].rstrip() == "---":
            start = self.significant(start + 1)
        if start >= len(lines):
            return None
        value, end = self.block(start, self.indent(start))
        end = self.significant(end)
        if end < len(lines) and lines[end].rstrip() == "...":
            end = self.significant(end + 1)
        if end < len(lines):
            if lines[end].startswith("---"):
                raise self.fail("more than one YAML document", end)
            raise self.fail("unexpected content (wrong indentation?)", end)
        return value

    # ------------------------------------------------------------------ blocks

    def block(self, i: int, indent: int) -> tuple[Any, int]:
        """The block node whose first line is i, at that indentation."""
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.fail("nesting too deep", i)
        try:
            content = self.lines[i][indent:]
            if content == "-" or content.startswith(("- ", "-\t")):
                return self.sequence(i, indent)
            if content[:1] in "|>":
                return self.block_scalar(content, i, indent - 1)
            if content.startswith(("? ", "&", "*", "!")) or content == "?":
                raise self.fail("anchors, aliases, tags and complex keys need PyYAML", i)
            if content.startswith(("[", "{", '"', "'")) and not self.key_split(content, i, probe=True):
                value, end = self.flow_or_quoted(content, i)
                return value, end
            if self.key_split(content, i, probe=True):
                return self.mapping(i, indent)
            return self.plain_line(i, indent)
        finally:
            self.depth -= 1

    def sequence(self, i: int, indent: int) -> tuple[list[Any], int]:
        items: list[Any] = []
        while i < len(self.lines):
            i = self.significant(i)
            if i >= len(self.lines) or self.indent(i) != indent or self.lines[i].rstrip() in ("---", "..."):
                break
            content = self.lines[i][indent:]
            if not (content == "-" or content.startswith(("- ", "-\t"))):
                break
            rest = content[1:]
            inner = len(rest) - len(rest.lstrip(" \t"))
            if not rest.strip() or rest.strip().startswith("#"):
                nxt = self.significant(i + 1)
                if nxt < len(self.lines) and self.indent(nxt) > indent:
                    value, i = self.block(nxt, self.indent(nxt))
                else:
                    value, i = None, i + 1
            else:
                column = indent + 1 + inner
                # Re-read the item as if it started on its own line at its own column ("- key: v" maps).
                self.lines[i] = " " * column + self.lines[i][column:]
                value, i = self.block(i, column)
            items.append(value)
        return items, i

    def key_split(self, content: str, i: int, probe: bool = False) -> tuple[Any, str] | None:
        """(key, rest after the colon) when content is a `key: value` line."""
        if content.startswith(('"', "'")):
            quote = content[0]
            end = self.quoted_end(content, 0, quote)
            if end is None:
                if probe:
                    return None
                raise self.fail("unterminated quoted key", i)
            after = content[end:]
            m = re.match(r"[ \t]*:(?:[ \t]|$)", after)
            if not m:
                return None
            return self.quoted(content[:end], i), after[m.end() :]
        if content.startswith(("[", "{", "#")):
            return None
        m = _KEY_END.search(content)
        if not m:
            return None
        key = content[: m.start()].rstrip()
        if " #" in key or "\t#" in key:
            return None
        return _resolve_plain(key), content[m.end() :]

    def mapping(self, i: int, indent: int) -> tuple[dict[Any, Any], int]:
        out: dict[Any, Any] = {}
        while i < len(self.lines):
            i = self.significant(i)
            if i >= len(self.lines) or self.indent(i) != indent or self.lines[i].rstrip() in ("---", "..."):
                break
            content = self.lines[i][indent:]
            if content == "-" or content.startswith(("- ", "-\t")):
                break
            split = self.key_split(content, i)
            if split is None:
                raise self.fail("expected 'key: value'", i)
            key, rest = split
            if isinstance(key, (list, dict)):
                raise self.fail("complex keys need PyYAML", i)
            if key in out:
                raise self.fail(f"duplicate key {key!r}", i)
            if key == "<<":
                raise self.fail("merge keys need PyYAML", i)
            value, i = self.value_after_key(rest, i, indent)
            out[key] = value
        return out, i

    def value_after_key(self, rest: str, i: int, indent: int) -> tuple[Any, int]:
        stripped = rest.strip(" \t")
        if not stripped or stripped.startswith("#"):
            nxt = self.significant(i + 1)
            if nxt < len(self.lines):
                nind = self.indent(nxt)
                ncontent = self.lines[nxt][nind:]
                if nind > indent:
                    return self.block(nxt, nind)
                if nind == indent and (ncontent == "-" or ncontent.startswith(("- ", "-\t"))):
                    return self.sequence(nxt, indent)
            return None, i + 1
        if stripped[0] in "|>":
            return self.block_scalar(stripped, i, indent)
        if stripped[0] in "&*!":
            raise self.fail("anchors, aliases and tags need PyYAML", i)
        if stripped[0] in "[{\"'":
            return self.flow_or_quoted(stripped, i)
        value = stripped.split(" #", 1)[0].split("\t#", 1)[0].rstrip()
        # A plain scalar may continue on more-indented lines (folded with spaces).
        j = i + 1
        parts = [value]
        while True:
            nxt = self.significant(j)
            if nxt >= len(self.lines) or self.indent(nxt) <= indent:
                break
            parts.append(self.lines[nxt].strip().split(" #", 1)[0].rstrip())
            j = nxt + 1
        text = " ".join(parts)
        if _KEY_END.search(text):
            # "a: b: c" is a YAML error: a colon and a space cannot be in a plain value.
            raise self.fail("mapping values are not allowed here (quote the value)", i)
        return (text if len(parts) > 1 else _resolve_plain(text)), j

    def plain_line(self, i: int, indent: int) -> tuple[Any, int]:
        """A plain scalar alone on its line (a sequence item or a whole document)."""
        text = self.lines[i][indent:].split(" #", 1)[0].split("\t#", 1)[0].strip()
        if _KEY_END.search(text):
            raise self.fail("mapping values are not allowed here", i)
        return _resolve_plain(text), i + 1

    def block_scalar(self, header: str, i: int, indent: int) -> tuple[str, int]:
        m = re.fullmatch(r"([|>])([-+]?)([1-9]?)([-+]?)(?:[ \t]+#.*)?[ \t]*", header)
        if not m:
            raise self.fail("bad block scalar header", i)
        style, chomp = m[1], m[2] or m[4]
        explicit = int(m[3]) if m[3] else None
        j = i + 1
        body: list[str] = []
        content_indent = indent + explicit if explicit else None
        while j < len(self.lines):
            line = self.lines[j]
            if not line.strip():
                body.append("")
                j += 1
                continue
            n = len(line) - len(line.lstrip(" "))
            if content_indent is None:
                if n <= indent:
                    break
                content_indent = n
            if n < content_indent:
                break
            body.append(line[content_indent:])
            j += 1
        trailing = 0
        while body and body[-1] == "":
            body.pop()
            trailing += 1
        if style == "|":
            text = "\n".join(body)
        else:
            text = ""
            for k, line in enumerate(body):
                if line == "" and k > 0:
                    text += "\n"
                elif k == 0 or body[k - 1] == "":
                    text += line
                elif line.startswith((" ", "\t")) or body[k - 1].startswith((" ", "\t")):
                    text += "\n" + line
                else:
                    text += " " + line
        if body:
            text += "\n" if chomp != "-" else ""
        if chomp == "+":
            text += "\n" * trailing
        return text, j

    # ------------------------------------------------------------------ scalars and flow

    def quoted_end(self, s: str, start: int, quote: str) -> int | None:
        """Index just after the closing quote of the scalar opening at s[start]."""
        k = start + 1
        while k < len(s):
            c = s[k]
            if quote == "'" and c == "'":
                if s[k + 1 : k + 2] == "'":
                    k += 2
                    continue
                return k + 1
            if quote == '"':
                if c == "\\":
                    k += 2
                    continue
                if c == '"':
                    return k + 1
            k += 1
        return None

    def quoted(self, token: str, i: int) -> str:
        body = token[1:-1]
        if token[0] == "'":
            return body.replace("''", "'")
        out = []
        k = 0
        while k < len(body):
            c = body[k]
            if c != "\\":
                out.append(c)
                k += 1
                continue
            esc = body[k + 1 : k + 2]
            if esc in _DQ_ESCAPES:
                out.append(_DQ_ESCAPES[esc])
                k += 2
            elif esc in ("x", "u", "U"):
                width = {"x": 2, "u": 4, "U": 8}[esc]
                digits = body[k + 2 : k + 2 + width]
                if len(digits) != width or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                    raise self.fail(f"bad \\{esc} escape in a double-quoted scalar", i)
                code = int(digits, 16)
                if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise self.fail(f"\\{esc}{digits} is not a character", i)
                out.append(chr(code))
                k += 2 + width
            else:
                raise self.fail(f"unknown escape \\{esc} in a double-quoted scalar", i)
        return "".join(out)

    def flow_or_quoted(self, text: str, i: int) -> tuple[Any, int]:
        """A quoted scalar or a flow collection starting text (on line i, possibly continuing below)."""
        j = i + 1
        while True:
            try:
                value, pos = self.flow_node(text, 0, i, 0)
            except _NeedMore:
                if j >= len(self.lines):
                    raise self.fail("unterminated flow collection or quoted scalar", i) from None
                more = self.lines[j].strip()
                j += 1
                if more and not more.startswith("#"):
                    text += " " + more
                continue
            rest = text[pos:].strip(" \t")
            if rest and not rest.startswith("#"):
                raise self.fail(f"unexpected text after the value: {rest[:40]!r}", i)
            return value, j

    def flow_node(self, s: str, k: int, i: int, depth: int) -> tuple[Any, int]:
        if depth > _MAX_DEPTH:
            raise self.fail("nesting too deep", i)
        while k < len(s) and s[k] in " \t":
            k += 1
        if k >= len(s):
            raise _NeedMore
        c = s[k]
        if c in "\"'":
            end = self.quoted_end(s, k, c)
            if end is None:
                raise _NeedMore
            return self.quoted(s[k:end], i), end
        if c == "[":
            items: list[Any] = []
            k += 1
            while True:
                k = self.skip_space(s, k, i)
                if s[k] == "]":
                    return items, k + 1
                value, k = self.flow_node(s, k, i, depth + 1)
                k = self.skip_space(s, k, i)
                if s[k] == ",":
                    k += 1
                elif s[k] != "]":
                    raise self.fail(f"expected ',' or ']' in a flow sequence, found {s[k]!r}", i)
                items.append(value)
        if c == "{":
            out: dict[Any, Any] = {}
            k += 1
            while True:
                k = self.skip_space(s, k, i)
                if s[k] == "}":
                    return out, k + 1
                key, k = self.flow_node(s, k, i, depth + 1)
                k = self.skip_space(s, k, i)
                value = None
                if s[k] == ":":
                    value, k = self.flow_node(s, k + 1, i, depth + 1)
                    k = self.skip_space(s, k, i)
                if isinstance(key, (list, dict)):
                    raise self.fail("complex keys need PyYAML", i)
                out[key] = value
                if s[k] == ",":
                    k += 1
                elif s[k] != "}":
                    raise self.fail(f"expected ',' or '}}' in a flow mapping, found {s[k]!r}", i)
        if c in "&*!":
            raise self.fail("anchors, aliases and tags need PyYAML", i)
        start = k
        while k < len(s):
            ch = s[k]
            if ch in ",[]{}" or (ch == ":" and (k + 1 == len(s) or s[k + 1] in " \t,[]{}")):
                break
            if ch == "#" and s[k - 1] in " \t":
                raise self.fail("comments inside a flow collection need PyYAML", i)
            k += 1
        token = s[start:k].strip()
        if not token:
            if k < len(s) and s[k] == ":":
                return None, k
            raise self.fail("empty entry in a flow collection", i)
        return _resolve_plain(token), k

    def skip_space(self, s: str, k: int, i: int) -> int:
        while k < len(s) and s[k] in " \t":
            k += 1
        if k >= len(s):
            raise _NeedMore
        if s[k] == "#":
            raise self.fail("comments inside a flow collection need PyYAML", i)
        return k


class _NeedMore(Exception):
    """A flow collection or quoted scalar continues on the next line."""
