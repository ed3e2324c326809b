"""Device facts read through a command runner: release, JetPack, CUDA, packages, module, Docker runtimes.

`DeviceFacts` wraps any function that runs a shell command on the device (testinfra's ``host.run``, a
``subprocess`` call, a fake in a unit test) and answers questions about the device. Like testinfra's
modules, every property re-runs its command on every access: nothing goes stale when the device is
changed during a run (a package upgrade, a restarted engine), and nothing is read that no check needs.

>>> facts = DeviceFacts(host.run)                                   # doctest: +SKIP
>>> facts.release.version, facts.jetpack, facts.cuda_version        # doctest: +SKIP
((36, 4, 0), '6.1', '12.6.68')

Every command gets a time limit on the device (``timeout``), so a hung ``dpkg`` or ``docker info``
cannot hang a run. A fact that cannot be read is ``None`` (or raises `DeviceFactError` where the
answer is needed to go on), never a guess.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jetson_hil import dpkg, l4t
from jetson_hil.errors import ParseError

__all__ = [
    "CUDA_VERSION_FILES",
    "PACKAGE_GROUPS",
    "CommandOutput",
    "ContainerFacts",
    "ContainerUnavailable",
    "DeviceFactError",
    "ExecOutput",
    "DeviceFacts",
    "installed_packages",
    "module_from_model",
    "module_from_tegrastats",
    "parse_cuda_version",
    "same_series",
    "series_of_group",
    "upstream_version",
]

RELEASE_FILE = "/etc/nv_tegra_release"
MODEL_FILES = ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model")
CUDA_VERSION_FILES = ("/usr/local/cuda/version.json", "/usr/local/cuda/version.txt")

# Package families of the runbook's `dpkg -l | grep -E "nvidia-jetpack|cuda|cudnn|tensorrt"`, as
# exact-name patterns: a family is present when one installed package matches.
PACKAGE_GROUPS: dict[str, tuple[str, ...]] = {
    "nvidia-jetpack": (r"nvidia-jetpack",),
    "cuda": (r"cuda-toolkit-\d+-\d+", r"cuda-runtime-\d+-\d+", r"cuda-cudart-\d+-\d+", r"nvidia-l4t-cuda"),
    "cudnn": (r"libcudnn\d+(?:-cuda-\d+)?", r"cudnn\d*", r"libcudnn\d+-dev"),
    "tensorrt": (r"tensorrt", r"libnvinfer\d+", r"nvidia-tensorrt"),
}


EXEC_LOST = "No such exec instance"  # dockerd's answer when an exec it created is gone before it starts


class DeviceFactError(RuntimeError):
    """A fact the suite needs could not be read; the message names the command, what came back and why."""


class ContainerUnavailable(DeviceFactError):
    """A command or copy needs the container running, and it is not (absent, exited, restarting, ...).

    `breakage_key` is the same for every such error of one container, so a suite can report the first one
    and skip the rest; `texts` holds the container's log tail for a diagnosis.
    """

    def __init__(self, container: str, status: str, texts: tuple[str, ...] = ()) -> None:
        self.container = container
        self.status = status
        self.texts = texts
        self.breakage_key = f"container {container} not running"
        last = last_log_line(texts[0]) if texts else ""
        error = last_error_line(texts[0]) if texts else ""
        said = f"; its log ends with {last!r}" if last else ""
        if error and error != last:  # a wrapper's 'stopped' after the traceback says less than the error
            said = f"; its log says {error!r} (and ends with {last!r})"
        state = (
            f"container {container} is {status}, not running"
            if status != "running"  # the engine refused the exec, then the container came back (a restart)
            else f"container {container} was not running when a command was started in it (it is running again)"
        )
        super().__init__(
            f"{state}{said}. Fix: `docker compose up -d` in the agents' project; if it stops again, its log says why"
        )


WRITE_CHUNK = 45_000  # bytes per command: 60 000 base64 characters, well under one argument's 128 KiB limit


def write_commands(path: str, data: bytes, keep_mode: bool = False) -> list[str]:
    """Shell commands, to run in order, that write `data` to `path` on the device through any transport: base64 in
    printf, chunk by chunk into ``path.jetson-hil.tmp``, then moved into place (the last command), so no reader sees
    half a file and a failed write leaves `path` as it was. `keep_mode`: the new file gets the old one's mode and
    owner.

    >>> write_commands("/tmp/a b", b"hi")
    ["printf %s aGk= | base64 -d > '/tmp/a b.jetson-hil.tmp'", "mv -f '/tmp/a b.jetson-hil.tmp' '/tmp/a b'"]
    """
    import base64

    q, tmp = shlex.quote(path), shlex.quote(f"{path}.jetson-hil.tmp")
    parts = [data[i : i + WRITE_CHUNK] for i in range(0, len(data), WRITE_CHUNK)] or [b""]
    writes = [f"printf %s {base64.b64encode(part).decode()} | base64 -d {'>>' if i else '>'} {tmp}"
              for i, part in enumerate(parts)]
    move = f"mv -f {tmp} {q}"
    if keep_mode:
        keep = f"chmod --reference={q} {tmp}; chown --reference={q} {tmp} 2>/dev/null || true"
        move = f"if [ -e {q} ]; then {keep}; fi; {move}"
    return [*writes, move]


def temp_script_command(filename: str, source: bytes, run: str) -> str:
    """A shell command that writes `source` as `filename` in a fresh private directory on the device, runs `run`
    (``{script}`` in it is the script's path), removes the directory and keeps `run`'s exit status.

    A directory of its own: a shared /tmp/jetson-hil left by another user (root's run before a user's) is not
    writable, and nothing of the suite stays on the device.
    """
    import base64

    data = shlex.quote(base64.b64encode(source).decode())
    stem = re.sub(r"[^A-Za-z0-9]+", "-", filename.rsplit(".", 1)[0])
    body = run.format(script=f'"$d/{filename}"')
    return (
        f'd=$(mktemp -d /tmp/jetson-hil-{stem}.XXXXXX) && printf %s {data} | base64 -d > "$d/{filename}" && '
        f'{body}; rc=$?; rm -rf "$d"; exit $rc'
    )


_ERROR_WORDS = re.compile(
    r"error|exception|fatal|failed|failure|cannot|can't|unable|not found|no such|invalid|denied|refused|"
    r"abort|killed|segmentation fault|core dumped|panic",
    re.IGNORECASE,
)


def last_error_line(log: str, limit: int = 200) -> str:
    """The last line of a `docker logs --timestamps` tail that reads as an error ('' when none does).

    >>> last_error_line("2026-12-06T17:53:24.01Z ImportError: libcudnn.so.9: cannot open shared object file\\n"
    ...                 "2026-12-06T17:53:24.02Z vl_jepa: stopped\\n")
    'ImportError: libcudnn.so.9: cannot open shared object file'
    """
    for line in reversed(log.splitlines()):
        if _ERROR_WORDS.search(line):
            return last_log_line(line, limit)
    return ""


def last_log_line(log: str, limit: int = 200) -> str:
    """The last non-empty line of a `docker logs --timestamps` tail, without Docker's timestamp.

    >>> last_log_line("2026-11-29T23:14:12.900Z vl_jepa: started\\n2026-11-29T23:14:13.1Z error: bad size\\n\\n")
    'error: bad size'
    """
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    if not lines:
        return ""
    line = re.sub(r"^\d{4}-\d\d-\d\dT[\d:.]+Z\s+", "", lines[-1])
    return line[:limit] + ("..." if len(line) > limit else "")


@dataclass(frozen=True)
class CommandOutput:
    """What a command on the device returned (testinfra's CommandResult reduced to what we read)."""

    command: str
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def tail(self, lines: int = 5) -> str:
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return " | ".join(text[-lines:]) if text else "(no output)"


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value or ""


def parse_cuda_version(text: str) -> str | None:
    """The CUDA toolkit version from version.json, version.txt or `nvcc --version` output, or None.

    >>> parse_cuda_version('{"cuda": {"name": "CUDA SDK", "version": "12.6.68"}}')
    '12.6.68'
    >>> parse_cuda_version("CUDA Version 10.2.300")
    '10.2.300'
    >>> parse_cuda_version("Cuda compilation tools, release 11.4, V11.4.315")
    '11.4.315'
    """
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return None
        version = data.get("cuda", {}).get("version") if isinstance(data, dict) else None
        return version if isinstance(version, str) and re.fullmatch(r"\d+\.\d+(?:\.\d+)*", version) else None
    m = re.search(r"CUDA Version (\d+\.\d+(?:\.\d+)*)", text) or re.search(r"\bV(\d+\.\d+\.\d+)\b", text)
    if m:
        return m.group(1)
    m = re.search(r"release (\d+\.\d+)", text)
    return m.group(1) if m else None


def installed_packages(text: str) -> dict[str, str]:
    """{name: version} of the installed packages in `dpkg -l` output (`jetson_hil.dpkg` parses it).

    Only installed packages without an error flag count: 'rc' (removed, config files left) and
    half-installed packages are not there for a program that needs them.
    """
    return {p.name: p.version for p in dpkg.parse_dpkg_l(text, strict=False) if p.installed and p.version}


def upstream_version(version: str) -> str | None:
    """The leading dotted number of a Debian version, without epoch and revision, or None.

    >>> upstream_version("9.3.0-1+cuda12.6"), upstream_version("6.1+b123"), upstream_version("1:12.6-1")
    ('9.3.0', '6.1', '12.6')
    """
    m = re.match(r"(?:\d+:)?(\d+(?:\.\d+)*)", version.strip())
    return m.group(1) if m else None


def series_of_group(group: str, packages: dict[str, str]) -> dict[str, str]:
    """{package: upstream version} of one group's packages; CUDA packages carry it in their name.

    >>> series_of_group("cuda", {"cuda-toolkit-12-6": "12.6-1", "nvidia-l4t-cuda": "36.4.0-2024"})
    {'cuda-toolkit-12-6': '12.6'}
    """
    out: dict[str, str] = {}
    for name, version in packages.items():
        if group == "cuda":
            m = re.fullmatch(r"cuda-[a-z]+-(\d+)-(\d+)", name)
            if m:
                out[name] = f"{m.group(1)}.{m.group(2)}"
            continue  # nvidia-l4t-cuda is versioned like L4T, not like CUDA
        upstream = upstream_version(version)
        if upstream:
            out[name] = upstream
    return out


def same_series(a: str, b: str, parts: int = 2) -> bool:
    """True when two dotted versions agree on their first `parts` components ('12.6.68' ~ '12.6.10').

    >>> same_series("12.6.68", "12.6.10"), same_series("9.3", "9.3.0"), same_series("10.2", "11.4")
    (True, True, False)
    """
    pa, pb = a.split("."), b.split(".")
    n = min(parts, len(pa), len(pb))
    return n > 0 and pa[:n] == pb[:n]


def module_from_model(model: str) -> l4t.Module | None:
    """The known module a device-tree model string names ('NVIDIA Jetson Orin Nano Developer Kit'), or None."""
    text = model.lower()
    order = [
        ("orin nano", "orin-nano"),
        ("orin nx", "orin-nx"),
        ("agx orin", "orin-agx"),
        ("xavier nx", "xavier-nx"),
        ("thor", "thor"),
        ("jetson nano", "nano"),
    ]
    for needle, key in order:
        if needle in text and key in l4t.MODULES:
            return l4t.MODULES[key]
    return None


def module_from_tegrastats(cpu_cores: int, ram_total_mb: int | None, rails: set[str]) -> l4t.Module | None:
    """The module whose tegrastats line has this CPU core count, RAM total and rails, when exactly one has.

    The fallback when the device tree has no model file (containers, some carrier boards): tegrastats
    prints the module's own core list, RAM total and power rails. RAM totals differ by a few MB
    between releases, so RAM matches within 3 %.
    """
    candidates = []
    for module in l4t.MODULES.values():
        if module.cpu_cores != cpu_cores or not set(module.rails) <= rails:
            continue
        if ram_total_mb is not None and abs(module.ram_mb - ram_total_mb) > 0.03 * module.ram_mb:
            continue
        candidates.append(module)
    return candidates[0] if len(candidates) == 1 else None


class DeviceFacts:
    """Facts about the device behind `run`, re-read on every access.

    `run(command)` runs a shell command on the device and returns an object with ``rc`` (or
    ``exit_status``), ``stdout`` and ``stderr`` (testinfra's ``host.run`` does). `sudo` prefixes
    privileged commands with ``sudo -n`` (never prompts) unless the user is root; `timeout_s` bounds
    every command on the device.
    """

    def __init__(self, run: Callable[[str], Any], sudo: bool = False, timeout_s: float = 30.0) -> None:
        self._run = run
        self.sudo = sudo
        self.timeout_s = timeout_s

    # ----------------------------------------------------------------------------------- commands

    def run(self, command: str, *, timeout_s: float | None = None, privileged: bool = False) -> CommandOutput:
        """Runs `command` through ``sh -c`` on the device under ``timeout``; exit 124 means it timed out."""
        limit = self.timeout_s if timeout_s is None else timeout_s
        inner = command
        if privileged and self.sudo:
            inner = f'if [ "$(id -u)" = 0 ]; then {command}; else sudo -n sh -c {shlex.quote(command)}; fi'
        wrapped = f"timeout -k 2 {limit:g} sh -c {shlex.quote(inner)}"
        for attempt in (1, 2):
            result = self._run(wrapped)
            rc = getattr(result, "rc", getattr(result, "exit_status", None))
            if rc is None:
                raise DeviceFactError(f"the command runner returned {type(result).__name__}, without an exit status")
            stdout, stderr = _text(getattr(result, "stdout", "")), _text(getattr(result, "stderr", ""))
            # a loaded Docker engine can lose an exec between creating and starting it: the command never ran
            if attempt == 1 and rc != 0 and EXEC_LOST in stderr and not stdout:
                continue
            return CommandOutput(command, int(rc), stdout, stderr)
        raise AssertionError("unreachable")

    def read_file(self, path: str) -> str | None:
        """A text file's content, or None when it is missing or unreadable."""
        out = self.run(f"cat {shlex.quote(path)}")
        return out.stdout if out.ok else None

    # -------------------------------------------------------------------------------- the release

    @property
    def hostname(self) -> str:
        return self.run("hostname").stdout.strip()

    @property
    def release_text(self) -> str | None:
        """/etc/nv_tegra_release as it is, or None when the host has none (not a Jetson)."""
        return self.read_file(RELEASE_FILE)

    @property
    def is_tegra(self) -> bool:
        return self.release_text is not None

    @property
    def release(self) -> l4t.L4TRelease:
        """The parsed L4T release; DeviceFactError when the file is missing or unreadable."""
        text = self.release_text
        if text is None:
            raise DeviceFactError(
                f"{RELEASE_FILE} is missing on {self.hostname or 'the device'}: not an L4T (Jetson) host, or "
                "nvidia-l4t-core is not installed"
            )
        try:
            return l4t.parse_release(text)
        except ParseError as exc:
            raise DeviceFactError(f"{RELEASE_FILE} cannot be read: {exc}") from None

    @property
    def jetpack(self) -> str | None:
        """The JetPack that the L4T release belongs to (knowledge table), or None when the table lacks it."""
        return l4t.jetpack_for(self.release)

    @property
    def stack(self) -> l4t.ComputeStack | None:
        """The CUDA/cuDNN/TensorRT versions that JetPack ships (knowledge table), or None."""
        return l4t.stack_for(self.release)

    # ------------------------------------------------------------------------------- the packages

    @property
    def packages(self) -> dict[str, str]:
        """{name: version} of every installed dpkg package."""
        out = self.run("COLUMNS=250 dpkg -l")
        if not out.ok:
            raise DeviceFactError(f"dpkg -l failed (exit {out.rc}): {out.tail()}")
        return installed_packages(out.stdout)

    def package_version(self, name: str) -> str | None:
        """The installed version of one package, or None."""
        return self.packages.get(name)

    def package_group(self, group: str, packages: dict[str, str] | None = None) -> dict[str, str]:
        """The installed packages of one of `PACKAGE_GROUPS` (nvidia-jetpack, cuda, cudnn, tensorrt)."""
        patterns = [re.compile(p) for p in PACKAGE_GROUPS[group]]
        installed = self.packages if packages is None else packages
        return {n: v for n, v in installed.items() if any(p.fullmatch(n) for p in patterns)}

    @property
    def l4t_core_version(self) -> l4t.L4TRelease | None:
        """The nvidia-l4t-core package's version, as a release (its build suffix kept), or None."""
        version = self.package_version("nvidia-l4t-core")
        if version is None:
            return None
        try:
            return l4t.parse_dpkg_core_version(version)
        except ParseError:
            return None

    # ----------------------------------------------------------------------------------- CUDA, module

    @property
    def cuda_version(self) -> str | None:
        """The CUDA toolkit in /usr/local/cuda (version.json on CUDA 11+, version.txt before), else nvcc's."""
        for path in CUDA_VERSION_FILES:
            text = self.read_file(path)
            if text and (version := parse_cuda_version(text)):
                return version
        out = self.run("/usr/local/cuda/bin/nvcc --version || nvcc --version")
        return parse_cuda_version(out.stdout) if out.ok else None

    @property
    def model(self) -> str | None:
        """The device tree's model string ('NVIDIA Jetson AGX Orin Developer Kit'), or None."""
        for path in MODEL_FILES:
            out = self.run(f"tr -d '\\000' < {path}")
            if out.ok and out.stdout.strip():
                return out.stdout.strip()
        return None

    @property
    def module(self) -> l4t.Module | None:
        """The module named by the device tree's model, or None (see `module_from_tegrastats`)."""
        model = self.model
        return module_from_model(model) if model else None

    # ---------------------------------------------------------------------------------------- Docker

    @property
    def docker_info(self) -> dict[str, Any]:
        """`docker info` of the device's engine, as the host's docker CLI sees it."""
        out = self.run("docker info --format '{{json .}}'", privileged=True)
        if not out.ok:
            raise DeviceFactError(f"`docker info` failed on the device (exit {out.rc}): {out.tail()}")
        try:
            info = json.loads(out.stdout)
        except ValueError:
            raise DeviceFactError(f"`docker info` printed no JSON: {out.stdout[:200]!r}") from None
        return info if isinstance(info, dict) else {}

    @property
    def docker_runtimes(self) -> list[str]:
        return sorted((self.docker_info.get("Runtimes") or {}).keys())

    @property
    def docker_default_runtime(self) -> str | None:
        return self.docker_info.get("DefaultRuntime")


@dataclass(frozen=True)
class ExecOutput:
    """What a command inside a container returned; exit status 124 means it hit its time limit."""

    command: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def timed_out(self) -> bool:
        return self.rc in (124, 137)


class ContainerFacts:
    """One container as the Docker engine reports it now: every property re-inspects it.

    Like testinfra's ``host.docker(name)``, but through the Docker SDK (so it works the same over a
    socket, TCP or SSH) and with what the runbook needs: status, restarts, runtime, device nodes,
    environment, image, bounded exec, file copy and log tail.

    >>> agent = ContainerFacts(docker.from_env(), "vl_jepa_agent")          # doctest: +SKIP
    >>> agent.status, agent.runtime, agent.restart_count                    # doctest: +SKIP
    ('running', 'nvidia', 0)
    """

    def __init__(self, client: Any, name: str, exec_timeout_s: float = 60.0) -> None:
        self.client = client
        self.name = name
        self.exec_timeout_s = exec_timeout_s

    def __repr__(self) -> str:
        return f"<container {self.name}>"

    @property
    def attrs(self) -> dict[str, Any] | None:
        """`docker inspect` of the container, or None when it does not exist."""
        import docker.errors

        try:
            return self.client.api.inspect_container(self.name)
        except docker.errors.NotFound:
            return None

    @property
    def exists(self) -> bool:
        return self.attrs is not None

    @property
    def state(self) -> dict[str, Any]:
        return (self.attrs or {}).get("State") or {}

    @property
    def status(self) -> str:
        """created, running, restarting, exited, paused, dead, or 'absent' when there is no such container."""
        attrs = self.attrs
        return "absent" if attrs is None else str((attrs.get("State") or {}).get("Status", "unknown"))

    @property
    def running(self) -> bool:
        state = self.state
        return bool(state.get("Running")) and not state.get("Restarting")

    @property
    def restart_count(self) -> int:
        return int((self.attrs or {}).get("RestartCount") or 0)

    @property
    def runtime(self) -> str | None:
        """HostConfig.Runtime: the OCI runtime it was created with ('nvidia', 'runc'), or None."""
        return ((self.attrs or {}).get("HostConfig") or {}).get("Runtime") or None

    @property
    def device_requests(self) -> list[dict[str, Any]]:
        return ((self.attrs or {}).get("HostConfig") or {}).get("DeviceRequests") or []

    @property
    def env(self) -> dict[str, str]:
        """The container's environment (Config.Env) as a dict."""
        pairs = ((self.attrs or {}).get("Config") or {}).get("Env") or []
        return dict(p.split("=", 1) if "=" in p else (p, "") for p in pairs)

    @property
    def image_ref(self) -> str | None:
        """The image reference it was created from (Config.Image)."""
        return ((self.attrs or {}).get("Config") or {}).get("Image")

    @property
    def image_id(self) -> str | None:
        return (self.attrs or {}).get("Image")

    def require_running(self) -> None:
        """Raises ContainerUnavailable (with the log tail) unless the container is running."""
        if not self.running:
            raise ContainerUnavailable(self.name, self.status, (self.logs(200),))

    def exec(self, command: list[str] | tuple[str, ...], timeout_s: float | None = None) -> ExecOutput:
        """Runs `command` in the container under ``timeout`` (exit 124 when it ran out of time).

        ContainerUnavailable when the container is not running."""
        self.require_running()
        limit = self.exec_timeout_s if timeout_s is None else timeout_s
        result = self._exec(["timeout", "-k", "2", f"{limit:g}", *command], tuple(command))
        if result.rc in (126, 127) and '"timeout"' in result.stdout + result.stderr:
            result = self._exec(list(command), tuple(command))  # an image without coreutils' timeout
        return result

    def _exec(self, argv: list[str], command: tuple[str, ...]) -> ExecOutput:
        import docker.errors

        try:
            created = self.client.api.exec_create(self.name, argv, stdout=True, stderr=True)
        except docker.errors.APIError as exc:  # gone or stopped between the check and the exec
            if exc.status_code in (404, 409):
                raise ContainerUnavailable(self.name, self.status) from None
            raise
        out, err = self.client.api.exec_start(created["Id"], demux=True)
        rc = self.client.api.exec_inspect(created["Id"]).get("ExitCode")
        return ExecOutput(command, -1 if rc is None else int(rc), _text(out), _text(err))

    def put_file(self, directory: str, name: str, data: bytes, mode: int = 0o755) -> None:
        """Copies `data` into the container as `directory`/`name` (the directory is created)."""
        import io
        import tarfile
        import time as _time

        made = self.exec(["mkdir", "-p", directory], timeout_s=15)
        if not made.ok:
            raise DeviceFactError(f"mkdir -p {directory} in {self.name} failed (exit {made.rc}): {made.stderr.strip()}")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(_time.time())
            tar.addfile(info, io.BytesIO(data))
        if not self.client.api.put_archive(self.name, directory, buffer.getvalue()):
            raise DeviceFactError(f"copying {name} into {self.name}:{directory} was refused by the engine")

    def logs(self, tail: int = 200) -> str:
        """The last `tail` lines of its stdout and stderr, with timestamps."""
        import docker.errors

        try:
            raw = self.client.api.logs(self.name, stdout=True, stderr=True, tail=tail, timestamps=True)
        except docker.errors.NotFound:
            return ""
        return _text(raw)
