"""Runbook steps applied to a device, each backed up first and put back byte for byte afterwards.

`DeviceAccess` is the device as a remediation changes it, through the session's own transports: files
read and written exactly (base64 over the host's command runner, so no byte is lost to a text decoding),
compose run in the project directory on the device, images re-tagged through the engine. Every compose
command on the device runs under one `flock` (`COMPOSE_LOCK`), so a restore that follows an interrupt
waits for the compose command the interrupt left running on the device instead of racing it.

`Remediation` is one change: `begin` records which image each service runs; `set_env`, `write`, `remove`,
`recreate` and `rebuild` back up what they touch before touching it (a journal on disk holds the backup
too, so that even a run killed outright is restored by the next one: `recover`); `restore` makes the
device equal to the backup again and proves it (`RestoreError` lists what still differs); `commit` keeps
a change that passed.

>>> fix = Remediation(DeviceAccess(facts, client, profile.compose, "vl_jepa_agent", "embedding_guard"),
...                   device="orin-07", run_id="r1", log=print)                        # doctest: +SKIP
>>> fix.begin(); fix.set_env(env_path, {"VL_JEPA_DEVICE": "cuda"}); fix.recreate(services)  # doctest: +SKIP
>>> fix.restore()                                                                      # doctest: +SKIP
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import shlex
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from jetson_hil.backup import (
    ServiceState,
    Snapshot,
    differences,
    env_digest,
    from_json,
    journal_path,
    restore_plan,
    to_json,
)
from jetson_hil.device import CommandOutput, DeviceFacts, write_commands
from jetson_hil.envfile import EnvFile
from jetson_hil.interrupts import held_interrupts
from jetson_hil.lease import pid_alive

__all__ = [
    "COMPOSE_LOCK",
    "DeviceAccess",
    "Remediation",
    "RemediationError",
    "RestoreError",
    "backup_tag",
    "edit_env",
    "recover",
    "split_ref",
]

COMPOSE_LOCK = "/tmp/jetson-hil-compose.lock"
COMPOSE_TIMEOUT_S = 300.0
FILE_TIMEOUT_S = 30.0
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
BACKUP_REPO = "jetson-hil-backup"


class RemediationError(RuntimeError):
    """A step of a remediation could not be done on the device; the message names the step and why."""


class RestoreError(RemediationError):
    """The device could not be brought back to its backup; `remaining` lists what still differs."""

    def __init__(self, message: str, remaining: Sequence[str] = ()) -> None:
        self.remaining = list(remaining)
        lines = "".join(f"\n  - {line}" for line in self.remaining)
        super().__init__(message + lines)


def edit_env(data: bytes, values: dict[str, str], source: str = "<env file>") -> tuple[bytes, dict[str, Any]]:
    """The env file `data` with `values` set, every other byte kept, and {key: (old, new)} for what changed.

    >>> edit_env(b"# GPU\\r\\nVL_JEPA_DEVICE=cpu  # cpu|cuda\\r\\n", {"VL_JEPA_DEVICE": "cuda"})
    (b'# GPU\\r\\nVL_JEPA_DEVICE=cuda  # cpu|cuda\\r\\n', {'VL_JEPA_DEVICE': ('cpu', 'cuda')})
    >>> edit_env(b"A=1\\n", {"A": "1"})
    (b'A=1\\n', {})
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RemediationError(f"{source} is not UTF-8 ({exc}): it cannot be edited safely") from None
    env = EnvFile.parse(text, source=source)
    changes = {}
    for key, value in values.items():
        old = env.get(key)
        if old != value or key not in env:
            env.set(key, value)
            changes[key] = (old, value)
    return env.to_text().encode("utf-8"), changes


def split_ref(ref: str) -> tuple[str, str]:
    """An image reference as (repository, tag); 'latest' when it has none (a registry port is not a tag).

    >>> split_ref("remed/vl_jepa:latest"), split_ref("localhost:5000/x"), split_ref("nvcr.io/a/b:r36.4.0")
    (('remed/vl_jepa', 'latest'), ('localhost:5000/x', 'latest'), ('nvcr.io/a/b', 'r36.4.0'))
    """
    head, sep, tail = ref.rpartition(":")
    if sep and "/" not in tail:
        return head, tail
    return ref, "latest"


def backup_tag(service: str, run_id: str) -> str:
    """The tag that keeps a service's former image from being pruned while it may be needed again.

    >>> backup_tag("vl_jepa", "20261130T010203Z.host.42")
    'jetson-hil-backup/vl_jepa:20261130t010203z.host.42'
    """
    name = re.sub(r"[^a-z0-9_.-]", "-", service.lower()) or "service"
    tag = re.sub(r"[^a-z0-9_.-]", "-", run_id.lower())[:120] or "run"
    return f"{BACKUP_REPO}/{name}:{tag}"


class DeviceAccess:
    """Files, compose and images of the device, as a remediation reads and changes them."""

    def __init__(
        self,
        facts: DeviceFacts,
        client: Any,
        compose: Any,
        agent: str,
        guard: str,
        compose_timeout_s: float = COMPOSE_TIMEOUT_S,
    ) -> None:
        self.facts = facts
        self.client = client
        self.settings = compose  # the profile's ComposeSettings
        self.agent = agent
        self.guard = guard
        self.compose_timeout_s = compose_timeout_s

    # ------------------------------------------------------------------------------------------ files

    def _run(
        self, command: str, what: str, timeout_s: float = FILE_TIMEOUT_S, ok: Iterable[int] = (0,)
    ) -> CommandOutput:
        """A file command as the login user, again with sudo when that is refused (files agents wrote)."""
        out = self.facts.run(command, timeout_s=timeout_s)
        if out.rc not in ok and self.facts.sudo:
            out = self.facts.run(command, timeout_s=timeout_s, privileged=True)
        if out.rc not in ok:
            raise RemediationError(f"{what} failed on the device (exit {out.rc}): {out.tail()}")
        return out

    def read_bytes(self, path: str) -> bytes | None:
        """The file's exact bytes, or None when it does not exist."""
        q = shlex.quote(path)
        out = self._run(f"if [ -e {q} ]; then base64 < {q}; else exit 3; fi", f"reading {path}", ok=(0, 3))
        if out.rc == 3:
            return None
        try:
            return base64.b64decode("".join(out.stdout.split()), validate=True)
        except ValueError as exc:
            raise RemediationError(f"reading {path}: the device's base64 output does not decode: {exc}") from None

    def write_bytes(self, path: str, data: bytes) -> None:
        """Replaces the file with `data` atomically (a temporary file beside it, then mv), keeping its mode
        and owner when it existed; the result is checked against `data`'s sha256."""
        *writes, move = write_commands(path, data, keep_mode=True)
        for command in writes:
            self._run(command, f"writing {path}")
        digest = self._run(f"{move} && sha256sum {shlex.quote(path)}", f"writing {path}").stdout.split()
        want = hashlib.sha256(data).hexdigest()
        if not digest or digest[0] != want:
            raise RemediationError(f"writing {path}: the device has sha256 {digest[:1]} after the write, not {want}")

    def remove(self, path: str) -> None:
        self._run(f"rm -f {shlex.quote(path)}", f"removing {path}")

    # ---------------------------------------------------------------------------------------- compose

    def compose(self, args: str, timeout_s: float | None = None) -> CommandOutput:
        """`<compose command> ARGS` in the project directory, under the device's compose lock."""
        limit = timeout_s or self.compose_timeout_s
        inner = f"cd {shlex.quote(self.settings.project_dir)} && {self.settings.command} {args}"
        command = (
            f"if command -v flock >/dev/null 2>&1; then flock -w {limit:g} {COMPOSE_LOCK} sh -c {shlex.quote(inner)}; "
            f"else sh -c {shlex.quote(inner)}; fi"
        )
        out = self.facts.run(command, timeout_s=limit + 10, privileged=True)
        if not out.ok:
            timed = " (timed out)" if out.rc == 124 else ""
            raise RemediationError(
                f"`{self.settings.command} {args}` in {self.settings.project_dir} exited {out.rc}{timed}: {out.tail()}"
            )
        return out

    def compose_idle(self, timeout_s: float | None = None) -> None:
        """Waits (bounded) until no compose command of a remediation runs on the device."""
        limit = timeout_s or self.compose_timeout_s
        out = self.facts.run(
            f"if command -v flock >/dev/null 2>&1; then flock -w {limit:g} {COMPOSE_LOCK} true; fi",
            timeout_s=limit + 10,
            privileged=True,
        )
        if not out.ok:
            raise RemediationError(f"a compose command still runs on the device after {limit:g} s: {out.tail()}")

    # ----------------------------------------------------------------------------------- the engine

    def _container(self, name: str) -> dict[str, Any] | None:
        import docker.errors

        try:
            return self.client.api.inspect_container(name)
        except docker.errors.NotFound:
            return None

    def service_of(self, container: str) -> str | None:
        """The compose service a container belongs to (its label), or None."""
        labels = ((self._container(container) or {}).get("Config") or {}).get("Labels") or {}
        return labels.get(SERVICE_LABEL)

    def project(self) -> str:
        """The compose project the agent (or the guard) belongs to, from its container's labels."""
        for name in (self.agent, self.guard):
            attrs = self._container(name)
            label = ((attrs or {}).get("Config") or {}).get("Labels") or {}
            if label.get(PROJECT_LABEL):
                return label[PROJECT_LABEL]
        raise RemediationError(
            f"neither {self.agent} nor {self.guard} exists with a compose project label: the agents' project is not "
            f"running (start it with `{self.settings.command} up -d` in {self.settings.project_dir})"
        )

    def services(self, project: str) -> dict[str, ServiceState]:
        """Every container of the compose project, by service."""
        found = {}
        for summary in self.client.api.containers(all=True, filters={"label": f"{PROJECT_LABEL}={project}"}):
            attrs = self._container(summary["Id"])
            if attrs is None:
                continue
            config, state = attrs.get("Config") or {}, attrs.get("State") or {}
            service = (config.get("Labels") or {}).get(SERVICE_LABEL) or attrs.get("Name", "").lstrip("/")
            found[service] = ServiceState(
                service=service,
                container=attrs.get("Name", "").lstrip("/"),
                image_ref=config.get("Image") or "",
                image_id=attrs.get("Image") or "",
                running=bool(state.get("Running")) and not state.get("Restarting"),
                env=env_digest(config.get("Env")),
            )
        return found

    def image_id(self, ref: str) -> str | None:
        import docker.errors

        try:
            return self.client.api.inspect_image(ref)["Id"]
        except docker.errors.ImageNotFound:
            return None

    def tag(self, image_id: str, ref: str) -> None:
        import docker.errors

        repo, tag = split_ref(ref)
        try:
            ok = self.client.api.tag(image_id, repo, tag, force=True)
        except docker.errors.APIError as exc:
            raise RemediationError(f"tagging {image_id[:19]} as {ref}: {exc.explanation or exc}") from None
        if not ok:
            raise RemediationError(f"the engine refused to tag {image_id[:19]} as {ref}")

    def untag(self, ref: str) -> None:
        import docker.errors

        with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
            self.client.api.remove_image(ref, noprune=True)

    def snapshot(self, paths: Iterable[str], project: str | None = None) -> Snapshot:
        """Files, services and the images their references name, now."""
        project = project or self.project()
        services = self.services(project)
        refs = sorted({s.image_ref for s in services.values() if s.image_ref})
        return Snapshot(
            files={p: self.read_bytes(p) for p in paths},
            services=services,
            images={ref: self.image_id(ref) for ref in refs},
            project=project,
        )


class Remediation:
    """One change to a device: backed up before each touch, restored (or kept) at the end. See the module doc."""

    def __init__(
        self,
        device: DeviceAccess,
        name: str,
        run_id: str,
        log: Callable[[str], None] = print,
        journal: Path | None = None,
    ) -> None:
        self.device = device
        self.name = name
        self.run_id = run_id
        self.log = log
        self.journal = journal if journal is not None else journal_path(name)
        self.before = Snapshot()
        self.backup_tags: list[str] = []
        self.actions: list[str] = []
        self.began = False
        self.finished = False

    # ----------------------------------------------------------------------------------------- backup

    def _say(self, line: str) -> None:
        self.actions.append(line)
        self.log(line)

    def _save(self) -> None:
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "device": self.name,
            "run_id": self.run_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "backup_tags": self.backup_tags,
        }
        tmp = self.journal.with_suffix(".tmp")
        tmp.write_text(to_json(self.before, **meta))
        os.replace(tmp, self.journal)

    def begin(self) -> Remediation:
        """Records which image every service of the project runs, before anything changes."""
        now = self.device.snapshot(())
        self.before = Snapshot({}, now.services, now.images, now.project)
        self.began = True
        self._save()
        running = ", ".join(f"{n}={s.image_id[7:19]}" for n, s in sorted(now.services.items()) if s.running)
        self._say(f"backed up: project {now.project}, services running {running or 'none'}")
        return self

    def backup(self, path: str) -> bytes | None:
        """The file's bytes as they were before this remediation touched it (read and journalled once)."""
        if not self.began:
            raise RemediationError("begin() must run before the device is changed")
        if path not in self.before.files:
            data = self.device.read_bytes(path)
            self.before.files[path] = data
            self._save()
            self._say(f"backed up {path}: {'absent' if data is None else f'{len(data)} bytes'}")
        return self.before.files[path]

    # ---------------------------------------------------------------------------------------- changes

    def write(self, path: str, data: bytes) -> None:
        self.backup(path)
        self.device.write_bytes(path, data)
        self._say(f"wrote {path} ({len(data)} bytes)")

    def remove(self, path: str) -> None:
        if self.backup(path) is not None:
            self.device.remove(path)
            self._say(f"removed {path}")

    def set_env(self, path: str, values: dict[str, str]) -> dict[str, Any]:
        """Sets `values` in the env file at `path`, keeping every other byte; {key: (old, new)} changed."""
        self.backup(path)
        current = self.device.read_bytes(path)
        if current is None:
            raise RemediationError(f"the env file {path} does not exist on the device")
        data, changes = edit_env(current, values, source=path)
        if changes:
            self.device.write_bytes(path, data)
            said = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in changes.items())
            self._say(f"set {said} in {path}")
        else:
            self._say(f"{path} already has {', '.join(f'{k}={v}' for k, v in values.items())}")
        return changes

    def recreate(self, services: Sequence[str]) -> float:
        """The runbook's `compose up -d --force-recreate SERVICES`; time.monotonic() when it returned.

        With ``--no-deps``: docker-compose 1.x force-recreates the services' dependencies too, and bouncing
        the broker (mosquitto) is no part of the runbook step; it would cut every agent's connection."""
        names = " ".join(shlex.quote(s) for s in services)
        self._say(f"recreating {' '.join(services)}")
        self.device.compose(f"up -d --force-recreate --no-deps {names}")
        return time.monotonic()

    def rebuild(self, service: str) -> None:
        """`compose build SERVICE`; the images the project's services run now are tagged aside first, so a
        restore can point the references back at them even if something prunes dangling images."""
        for state in self.before.services.values():
            tag = backup_tag(state.service, self.run_id)
            if state.image_id and tag not in self.backup_tags:
                self.device.tag(state.image_id, tag)
                self.backup_tags.append(tag)
        self._save()
        self._say(f"building {service}")
        self.device.compose(f"build {shlex.quote(service)}")
        new = self.device.image_id(self.before.services[service].image_ref) if service in self.before.services else None
        old = self.before.services.get(service)
        if old is not None:
            same = "the same image (cached)" if new == old.image_id else f"image {str(new)[7:19]}"
            self._say(f"built {service}: {same}")

    # --------------------------------------------------------------------------------------- the end

    @property
    def pending(self) -> bool:
        """True while a change may be on the device and neither restore nor commit has finished."""
        return self.began and not self.finished

    def restore(self) -> list[str]:
        """Brings the device back to the backup and proves it; the actions taken ([] when nothing differed).

        Ctrl-C and SIGTERM are held until it is done. Waits first for a compose command still running on
        the device (one an interrupt left behind). RestoreError when something still differs after."""
        if not self.began or self.finished:
            return []
        with held_interrupts():
            self.device.compose_idle()
            project = self.before.project or None
            now = self.device.snapshot(self.before.files, project)
            plan = restore_plan(self.before, now)
            done = plan.describe()
            if plan.stop:
                self.device.compose(f"stop -t 5 {' '.join(plan.stop)}")
            for path, data in plan.write.items():
                self.device.write_bytes(path, data)
            for path in plan.delete:
                self.device.remove(path)
            for ref, image_id in plan.retag.items():
                self.device.tag(image_id, ref)
            if plan.recreate:
                self.device.compose(f"up -d --force-recreate --no-build --no-deps {' '.join(plan.recreate)}")
            if plan.stop_after:
                self.device.compose(f"stop -t 5 {' '.join(plan.stop_after)}")
            after = self.device.snapshot(self.before.files, project)
            remaining = differences(self.before, after)
            if remaining:
                raise RestoreError(
                    f"{self.name}: the device is not back to its backup after restoring (journal kept at "
                    f"{self.journal}; the next run with --allow-changes tries again)",
                    remaining,
                )
            for line in done:
                self._say(f"restored: {line}")
            self._say("restored: the device matches its backup" if done else "restore: nothing had changed")
            self._finish()
        return done

    def commit(self) -> None:
        """Keeps the change (--keep-changes after a pass): the backup is dropped."""
        if self.pending:
            self._say("kept the change (--keep-changes); backup dropped")
            self._finish()

    def _finish(self) -> None:
        for tag in self.backup_tags:
            self.device.untag(tag)
        self.finished = True
        with contextlib.suppress(FileNotFoundError):
            self.journal.unlink()


def recover(
    device: DeviceAccess, name: str, log: Callable[[str], None] = print, journal: Path | None = None
) -> list[str]:
    """Restores a backup that an earlier run left in its journal (it was killed before it could restore).

    [] when there is no journal. RemediationError when the journal belongs to a run still alive on this
    machine (it restores for itself), or cannot be read."""
    path = journal if journal is not None else journal_path(name)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    try:
        before, meta = from_json(text)
    except ValueError as exc:
        raise RemediationError(f"the remediation journal {path} cannot be used: {exc}; move it aside") from None
    pid = meta.get("pid")
    if meta.get("host") == socket.gethostname() and isinstance(pid, int) and pid != os.getpid() and pid_alive(pid):
        raise RemediationError(
            f"{path} belongs to run {meta.get('run_id')} (pid {meta.get('pid')}), still running: it restores itself"
        )
    log(f"found the backup of run {meta.get('run_id')} ({meta.get('created')}) that did not restore: restoring it")
    fix = Remediation(device, name, str(meta.get("run_id") or "recovered"), log, path)
    fix.before, fix.began = before, True
    fix.backup_tags = list(meta.get("backup_tags") or [])
    return fix.restore()

