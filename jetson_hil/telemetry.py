"""The session's telemetry evidence: tegrastats running on the device host for the whole run.

Nothing is installed on the device and no daemon is added: `start` launches ``tegrastats --interval N
--logfile F`` detached (``nohup setsid``, with ``sudo -n`` when asked and not root), a background thread
reads the new bytes of F every ~second, and `stop` ends exactly the process it started and removes F.
Commands go through a caller-supplied ``run_command(cmd, timeout) -> (rc, stdout, stderr)``, so this module
does not care whether the host is local, SSH or a container.

>>> rec = TelemetryRecorder(host_run)                                     # doctest: +SKIP
>>> rec.start()                                                           # doctest: +SKIP
>>> [s.sample.gpu_load_percent for s in rec.wait_samples(3, timeout=10)]  # doctest: +SKIP
[0, 99, 98]

Failures never raise out of the background thread: the first one is kept in `error` (e.g. ``tegrastats
not found on the device``) and waits that can no longer succeed fail at once with that reason. Lines the
parser rejects are counted and kept (`bad_lines`), never fatal.

The sampler follows the device's kind (profile ``[device] kind``): ``jetson`` runs tegrastats; ``dgpu`` (a
discrete-GPU host, which has no tegrastats) copies ``tools/jetson/gpu_sampler.py`` to a per-run file on the host
and runs it with python3: NVML (or ``nvidia-smi -lms``) readings printed as tegrastats lines, so the same parser,
checks and plots read both. The copy is removed with the log on `stop`. The command and parser are also templates,
for any other sampler writing one line per interval.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import shlex
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from jetson_hil.device import write_commands
from jetson_hil.errors import ParseError

__all__ = [
    "GPU_SAMPLER_COMMAND",
    "GPU_SAMPLER_STOP",
    "KINDS",
    "TEGRASTATS_COMMAND",
    "TEGRASTATS_STOP",
    "RunCommand",
    "Sample",
    "TelemetryRecorder",
    "TelemetryTimeout",
]

RunCommand = Callable[[str, float], tuple[int, Any, Any]]
"""``run_command(cmd, timeout) -> (rc, stdout, stderr)``: runs a shell command line on the device host."""

TEGRASTATS_COMMAND = "tegrastats --interval {interval_ms} --logfile {logfile}"
TEGRASTATS_STOP = "tegrastats --stop"
GPU_SAMPLER = Path(__file__).resolve().parents[1] / "tools" / "jetson" / "gpu_sampler.py"
GPU_SAMPLER_COMMAND = "python3 {sampler} --interval {interval_ms} --logfile {logfile} --pidfile {pidfile}"
GPU_SAMPLER_STOP = "python3 {sampler} --stop --pidfile {pidfile}"
KINDS = ("jetson", "dgpu")
"""Device kinds (profile ``[device] kind``) and their samplers: tegrastats, or gpu_sampler.py on a dGPU host."""


class TelemetryTimeout(TimeoutError):
    """Not enough samples in time; the message names the count seen, the timeout and any known failure."""


class Sample(NamedTuple):
    """One parsed sampler line with the time the suite received it.

    `received` is time.time(); `received_mono` is time.monotonic() (the clock `since` arguments use). Lines
    read in one poll get times spaced by the interval, ending at the poll time.
    """

    received: float
    sample: Any
    received_mono: float


def _text(out: Any) -> str:
    if out is None:
        return ""
    if isinstance(out, (bytes, bytearray)):
        return bytes(out).decode("utf-8", "replace")
    return str(out)


def _bytes(out: Any) -> bytes:
    if out is None:
        return b""
    if isinstance(out, (bytes, bytearray)):
        return bytes(out)
    return str(out).encode("utf-8", "surrogateescape")


def _default_parser() -> Callable[[str], Any]:
    from jetson_hil.tegrastats import parse_line

    return parse_line


class TelemetryRecorder:
    """Runs a sampler (tegrastats by default) detached on the device host and records its lines.

    - `run_command`: runs one shell command line on the host, returns (rc, stdout, stderr).
    - `interval_ms`: sampling interval passed to the sampler.
    - `logfile`: where the sampler writes on the host; default ``/tmp/jetson-hil-tegrastats-<run>.log``.
    - `sudo`: prefix the sampler with ``sudo -n`` when the host user is not root. When ``sudo -n`` is
      refused the sampler runs without it (tegrastats still reports GPU load) and the refusal is kept in
      `notes`; if the sampler then fails, `error` says root was needed and why sudo failed.
    - `command` / `stop_command`: templates with ``{interval_ms}`` and ``{logfile}``.
    - `parse`: turns one line into a sample; raising ParseError or ValueError marks the line bad.
    - `kind`: ``jetson`` (tegrastats) or ``dgpu`` (gpu_sampler.py copied to the host; never with sudo, NVML's
      device readings need no root). It picks the default command and stop command; explicit ones win.
    """

    def __init__(
        self,
        run_command: RunCommand,
        interval_ms: int = 1000,
        logfile: str | None = None,
        sudo: bool = True,
        *,
        run_id: str | None = None,
        command: str = TEGRASTATS_COMMAND,
        stop_command: str | None = TEGRASTATS_STOP,
        parse: Callable[[str], Any] | None = None,
        poll_interval_s: float = 1.0,
        command_timeout_s: float = 15.0,
        max_samples: int = 100_000,
        max_read_bytes: int = 4 * 1024 * 1024,
        max_bad_lines: int = 100,
        kind: str = "jetson",
    ) -> None:
        if interval_ms < 1:
            raise ValueError("interval_ms must be >= 1")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        self.run_command = run_command
        self.interval_ms = int(interval_ms)
        self.kind = kind
        run = run_id or f"{os.getpid()}-{time.strftime('%Y%m%d-%H%M%S')}"
        sampler = "tegrastats" if kind == "jetson" else "gpu_sampler"
        self.logfile = logfile or f"/tmp/jetson-hil-{sampler}-{run}.log"
        self.errfile = self.logfile + ".err"
        # the per-run copy of gpu_sampler.py on a dGPU host (None: nothing to copy)
        self.sampler_path: str | None = None
        self._by_kind = command == TEGRASTATS_COMMAND
        self.sudo = sudo
        self._set_command(command, stop_command)
        if kind == "dgpu" and self._by_kind:
            self._use_gpu_sampler(stop_command == TEGRASTATS_STOP)
        elif kind == "dgpu":
            self.sudo = False
        self.parse = parse or _default_parser()
        self.poll_interval_s = poll_interval_s
        self.command_timeout_s = command_timeout_s
        self.max_read_bytes = max_read_bytes

        self.error: str | None = None
        self.notes: list[str] = []
        self.pid: int | None = None
        self.used_sudo = False
        self.bad_lines: deque[str] = deque(maxlen=max_bad_lines)
        self.bad_count = 0
        self.polls = 0
        self.bytes_read = 0

        self._samples: deque[Sample] = deque(maxlen=max_samples)
        self._total = 0
        self._cond = threading.Condition()
        self._poll_lock = threading.Lock()
        self._offset = 0
        self._buffer = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self._exited = False
        self._installed = False
        self._cleaned = False  # stop's clean-up ran (with the final read)

    # ------------------------------------------------------------------------------------ helpers

    def _run(self, cmd: str) -> tuple[int, str, str]:
        rc, out, err = self.run_command(cmd, self.command_timeout_s)
        return rc, _text(out), _text(err)

    def _fail(self, reason: str) -> None:
        with self._cond:
            if self.error is None:
                self.error = reason
            self._cond.notify_all()

    def _prefix(self) -> str:
        return "sudo -n " if self.used_sudo else ""

    def _set_command(self, command: str, stop_command: str | None) -> None:
        q = shlex.quote
        words = {
            "interval_ms": self.interval_ms,
            "logfile": q(self.logfile),
            "sampler": q(self.sampler_path or ""),
            "pidfile": q(self.logfile + ".pid"),
        }
        self.command = command.format(**words)
        self.stop_command = stop_command.format(**words) if stop_command else None
        self.binary = shlex.split(self.command)[0]
        self.name = self.binary
        """What the messages call the sampler (``binary`` is the program the command starts)."""

    def _use_gpu_sampler(self, default_stop: bool = True) -> None:
        """Switches to gpu_sampler.py (a dGPU host): copied beside the log, no sudo."""
        self.sampler_path = self.logfile.rsplit(".log", 1)[0] + ".py"
        stop = GPU_SAMPLER_STOP if default_stop else self.stop_command
        self._set_command(GPU_SAMPLER_COMMAND, stop)
        self.name = "gpu_sampler.py"
        self.sudo = False

    def _detected_dgpu(self) -> str | None:
        """Why the host is a dGPU (`jetson_hil.dgpu` detection rule), or None when it is not or cannot tell."""
        from jetson_hil import dgpu

        try:
            _, out, _ = self._run(dgpu.DETECT_COMMAND)
            platform = dgpu.parse_detection(out)
        except Exception:  # a host that cannot say keeps the tegrastats verdict
            return None
        return platform.reason if platform.is_dgpu else None

    # ---------------------------------------------------------------------------------- lifecycle

    def start(self) -> TelemetryRecorder:
        """Starts the sampler on the host and the polling thread. Never raises for device problems:
        check `error` (or let `wait_samples` report it)."""
        if self._started:
            return self
        self._started = True
        try:
            self._launch()
        except Exception as exc:  # the transport itself failed (host unreachable, timeout)
            self._fail(f"could not start {self.name} on the device: {exc}")
        if self.error is None:
            self._thread = threading.Thread(target=self._loop, name="jetson-hil-telemetry", daemon=True)
            self._thread.start()
        return self

    def _launch(self) -> None:
        q = shlex.quote
        rc, out, _ = self._run(f"command -v {q(self.binary)}")
        if (rc != 0 or not out.strip()) and self.kind == "jetson" and self._by_kind:
            why = self._detected_dgpu()
            if why is not None:  # a jetson profile on a dGPU host: Task 1's checks switch too (dgpu.host_kind)
                self.notes.append(f"no tegrastats on the device, and {why}: recording with gpu_sampler.py")
                self._use_gpu_sampler()
                rc, out, _ = self._run(f"command -v {q(self.binary)}")
        if rc != 0 or not out.strip():
            needed = f" ({self.name} runs with it)" if self.name != self.binary else ""
            self._fail(f"{self.binary} not found on the device{needed}")
            return
        if self.sampler_path and not self._install_sampler():
            return
        if self.sudo:
            rc, out, _ = self._run("id -u")
            if rc == 0 and out.strip() != "0":
                rc, _, err = self._run("sudo -n true")
                if rc == 0:
                    self.used_sudo = True
                else:
                    reason = err.strip().splitlines()[-1] if err.strip() else f"exit status {rc}"
                    self.notes.append(f"sudo -n failed ({reason}); running {self.name} without root")
        # nohup and setsid detach it from the login session (an SSH disconnect must not end it); both
        # exec, so $! is the sampler's pid (or sudo's, which relays signals to it).
        _, out, _ = self._run("for t in nohup setsid; do command -v $t >/dev/null 2>&1 && echo $t; done")
        detach = " ".join(t for t in ("nohup", "setsid") if t in out.split())
        rm = f"{self._prefix()}rm -f {q(self.logfile)}"
        launch = (
            f"rm -f {q(self.errfile)}; {rm} 2>/dev/null; "
            f"{detach} {self._prefix()}{self.command} >/dev/null 2>{q(self.errfile)} </dev/null & echo $!"
        )
        rc, out, err = self._run(launch)
        pid = out.strip().splitlines()[-1] if out.strip() else ""
        if rc != 0 or not pid.isdigit():
            self._fail(f"could not start {self.name} on the device (exit status {rc}): {err.strip()[-300:]}")
            return
        self.pid = int(pid)

    def _install_sampler(self) -> bool:
        """Copies gpu_sampler.py to `sampler_path` on the host (base64 through the shell: any transport)."""
        rc, _, err = self._run(" && ".join(write_commands(self.sampler_path or "", GPU_SAMPLER.read_bytes())))
        if rc != 0:
            self._fail(f"could not copy {self.name} to {self.sampler_path} on the device: {err.strip()[-300:]}")
            return False
        self._installed = True
        return True

    def _loop(self) -> None:
        while not self._stopping.wait(self.poll_interval_s) and not self._exited:
            self.poll()

    def stop(self, timeout: float = 10.0) -> None:
        """Ends the sampler it started (its pid, then `stop_command` if it survives), reads the last
        lines and removes the logfile. Bounded by the command timeouts; safe to call twice."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        if self.pid is None:
            if self._installed:  # the copy is there but the sampler never started
                with contextlib.suppress(Exception):
                    self._run(f"rm -f {shlex.quote(self.sampler_path or '')}")
            with self._cond:
                self._cond.notify_all()
            return
        try:
            self._terminate()
            q = shlex.quote
            copy = f" {q(self.sampler_path)} {q(self.logfile + '.pid')}" if self.sampler_path else ""
            cleanup = (
                f"rm -f {q(self.logfile)} {q(self.errfile)}{copy} 2>/dev/null; "
                f"[ -e {q(self.logfile)} ] && {self._prefix()}rm -f {q(self.logfile)} 2>/dev/null; true"
            )
            self.poll(final=True, then=cleanup)  # the last lines and the clean-up in one round trip
            if not self._cleaned:  # that read failed: the clean-up on its own
                self._run(cleanup)
        except Exception as exc:  # the device went away: evidence so far is kept
            self.notes.append(f"stopping {self.name} failed: {exc}")
        finally:
            self.pid = None
            with self._cond:
                self._cond.notify_all()

    def _alive_test(self) -> str:
        """A shell test that is true while the process runs (a zombie, killed but not reaped, is not)."""
        return f"{{ [ -d /proc/{self.pid} ] && ! grep -q '^State:[[:space:]]*Z' /proc/{self.pid}/status 2>/dev/null; }}"

    def _alive_cmd(self) -> str:
        return f"if {self._alive_test()}; then echo running; else echo exited; fi"

    def _terminate(self) -> None:
        pid = self.pid
        # The exact process first: `tegrastats --stop` would also end instances the operator started.
        # up to 1 s in steps of 20 ms: a sampler usually ends within the first step
        wait = f"i=0; while [ $i -lt 50 ]; do {self._alive_test()} || break; sleep 0.02; i=$((i + 1)); done; "
        _, out, _ = self._run(
            f"kill {pid} 2>/dev/null || {self._prefix()}kill {pid} 2>/dev/null; {wait}{self._alive_cmd()}"
        )
        if out.strip().endswith("exited"):
            return
        if self.stop_command:
            _, out, _ = self._run(f"{self._prefix()}{self.stop_command} >/dev/null 2>&1; {wait}{self._alive_cmd()}")
            if out.strip().endswith("exited"):
                return
        _, out, _ = self._run(f"kill -9 {pid} 2>/dev/null || {self._prefix()}kill -9 {pid}; {wait}{self._alive_cmd()}")
        if not out.strip().endswith("exited"):
            self.notes.append(f"{self.name} (pid {pid}) could not be stopped on the device")

    def __enter__(self) -> TelemetryRecorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------------------------------- polling

    def poll(self, final: bool = False, then: str = "") -> list[Sample]:
        """Reads the logfile's new bytes and records the complete lines; returns the new samples.

        Called by the background thread every `poll_interval_s`; callable directly. Never raises. `then`: a
        shell command run after the read in the same round trip, its output discarded (stop's clean-up).
        """
        if self.pid is None:
            return []
        with self._poll_lock:
            try:
                return self._poll(final, then)
            except Exception as exc:  # transport failure: keep the reason, keep the recorder alive
                self._fail(f"reading {self.logfile} on the device failed: {exc}")
                return []

    def _poll(self, final: bool, then: str = "") -> list[Sample]:
        q = shlex.quote(self.logfile)
        cmd = (
            f"{self._alive_cmd()}; "
            f"if [ -f {q} ]; then wc -c < {q}; tail -c +{self._offset + 1} {q} | head -c {self.max_read_bytes}; "
            f"else echo missing; fi"
        )
        if then:
            cmd += f"; {{ {then}; }} >/dev/null 2>&1"
        rc, out, err = self.run_command(cmd, self.command_timeout_s)
        self._cleaned = self._cleaned or bool(then)
        raw = _bytes(out)
        status, _, rest = raw.partition(b"\n")
        size_line, _, content = rest.partition(b"\n")
        self.polls += 1
        running = status.strip() == b"running"
        if size_line.strip() == b"missing" or not size_line.strip().isdigit():
            if not running:
                self._exited_without_log()
            return []
        size = int(size_line.strip())
        if size < self._offset:  # the log was truncated or replaced: start over
            self.notes.append(f"{self.logfile} shrank from {self._offset} to {size} bytes; reading it again")
            self._offset = 0
            return []
        self._offset += len(content)
        self.bytes_read += len(content)
        text = self._decoder.decode(content, final=final)
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        if final and self._buffer.strip():
            lines.append(self._buffer)
            self._buffer = ""
        samples = self._record(lines)
        if not running and not final and not self._exited:
            self._exited = True
            # when and after how much: a sampler killed mid-run reads apart from one that never worked
            at = time.strftime("%H:%M:%S", time.gmtime())
            self._fail(self._exit_reason("stopped while recording", f" (pid {self.pid}, seen at {at} UTC, after "
                                                                    f"{self._total} samples)"))
        return samples

    def _record(self, lines: list[str]) -> list[Sample]:
        parsed = []
        for line in lines:
            if not line.strip():
                continue
            try:
                parsed.append(self.parse(line))
            except (ParseError, ValueError) as exc:
                self.bad_count += 1
                self.bad_lines.append(f"{line.strip()[:500]}  [{exc}]")
        if not parsed:
            return []
        now, mono = time.time(), time.monotonic()
        step = self.interval_ms / 1000.0
        with self._cond:
            floor = self._samples[-1].received_mono if self._samples else -float("inf")
            new = []
            for i, sample in enumerate(parsed):
                back = (len(parsed) - 1 - i) * step
                m = max(mono - back, floor)
                new.append(Sample(now - (mono - m), sample, m))
                floor = m
            self._samples.extend(new)
            self._total += len(new)
            self._cond.notify_all()
        return new

    def _exit_reason(self, what: str, when: str = "") -> str:
        try:
            _, out, _ = self._run(f"tail -c 500 {shlex.quote(self.errfile)} 2>/dev/null")
        except Exception:  # the reason is best effort
            out = ""
        detail = " ".join(out.split()) or "no error output"
        reason = f"{self.name} {what} on the device{when}: {detail}"
        sudo_note = next((n for n in self.notes if n.startswith("sudo -n failed")), None)
        if sudo_note:
            reason += f"; it may need root and {sudo_note.split(';')[0]}"
        return reason

    def _exited_without_log(self) -> None:
        if not self._exited:
            self._exited = True
            self._fail(self._exit_reason("exited without writing its log"))

    # -------------------------------------------------------------------------------------- queries

    @property
    def running(self) -> bool:
        return self._thread is not None and self.error is None

    def samples(self, since: float | None = None, last_s: float | None = None) -> list[Sample]:
        """Recorded samples, oldest first; `since` is a time.monotonic() value, `last_s` a window."""
        cutoff = -float("inf")
        if since is not None:
            cutoff = since
        if last_s is not None:
            cutoff = max(cutoff, time.monotonic() - last_s)
        with self._cond:
            return [s for s in self._samples if s.received_mono >= cutoff]

    def wait_samples(self, count: int, timeout: float, since: float | None = None) -> list[Sample]:
        """Waits until `count` samples (received at/after `since`) exist; returns them all.

        Raises TelemetryTimeout naming what was seen, or at once when the recorder has failed (the message
        carries `error`).
        """
        deadline = time.monotonic() + timeout

        def enough() -> bool:
            return len(self._matching(since)) >= count

        def hopeless() -> bool:
            return self.error is not None or self._stopping.is_set() or not self._started

        with self._cond:
            while not enough() and not hopeless():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            found = self._matching(since)
        if len(found) >= count:
            return found
        what = f"waiting for {count} {self.name} sample{'s' if count != 1 else ''}: saw {len(found)}"
        if self.error is not None:
            raise TelemetryTimeout(f"{what}; {self.error}")
        if not self._started:
            raise TelemetryTimeout(f"{what}; the telemetry recorder was not started")
        if self._stopping.is_set():
            raise TelemetryTimeout(f"{what}; the telemetry recorder was stopped")
        bad = f" ({self.bad_count} lines not understood)" if self.bad_count else ""
        raise TelemetryTimeout(f"timed out after {timeout:g} s {what}{bad}")

    def _matching(self, since: float | None) -> list[Sample]:
        if since is None:
            return list(self._samples)
        return [s for s in self._samples if s.received_mono >= since]

    def stats(self) -> dict[str, Any]:
        """Counts for the report."""
        with self._cond:
            total, retained = self._total, len(self._samples)
        return {
            "command": self.command,
            "logfile": self.logfile,
            "pid": self.pid,
            "sudo": self.used_sudo,
            "samples": total,
            "retained": retained,
            "bad_lines": self.bad_count,
            "polls": self.polls,
            "bytes_read": self.bytes_read,
            "error": self.error,
            "notes": list(self.notes),
        }
