"""The device lease: which runs use a device now, so two runs do not trip over each other.

Read-only runs take a **shared** lease, runs that change the device (remediation) an **exclusive** one. A
run that cannot have its lease waits a bounded time, then fails with one line naming the holder and until
when it holds the device.

>>> lease = acquire(runner, "20261130T010203Z.ci-7.4242", EXCLUSIVE, device="orin-07", wait_s=60)  # doctest: +SKIP
>>> [h.owner for h in holders(runner)]                                                    # doctest: +SKIP
['ci@ci-7']
>>> lease.release()                                                                       # doctest: +SKIP

Why on the device: runs from different machines must see each other, so the lease lives in a directory on
the device host (`DEFAULT_DIR`), written through the session's own transport (a `Runner`: testinfra's
``host.run`` over ``local://``, ``ssh://`` or ``docker://``). Each holder is one file, ``EXPIRES JSON`` on
one line; a ``gen`` counter changes on every write. Every change is a compare-and-swap under ``flock`` on
the device: read the directory (shared lock), decide here (pure code, `decide`), then write only if ``gen``
is still what was read (exclusive lock), else read again. Times are the device's clock, so hosts with
skewed clocks agree on expiry.

A lease is stale, and removed by the next run that reads it, when its expiry has passed (its run stopped
renewing: crashed, killed, lost the link) or when it was taken on this same machine by a process that no
longer exists. A held lease is renewed in the background every third of its time to live.

Runs are keyed by run id: every process that acquires with the same run id (pytest-xdist workers of one
run) shares that run's lease and never blocks on it; each process has its own file and releases its own.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import shlex
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "DEFAULT_DIR",
    "EXCLUSIVE",
    "SHARED",
    "Holder",
    "Lease",
    "LeaseBusy",
    "LeaseError",
    "LeaseUnreachable",
    "Runner",
    "acquire",
    "decide",
    "holders",
]

SHARED = "shared"
EXCLUSIVE = "exclusive"
MODES = (SHARED, EXCLUSIVE)
DEFAULT_DIR = "/tmp/jetson-hil-lease"
DEFAULT_TTL_S = 60.0
DEFAULT_WAIT_S = 60.0
POLL_S = 1.0
FLOCK_WAIT_S = 10
COMMAND_TIMEOUT_S = 20.0
LEASE_SUFFIX = ".lease"
MAX_ROUNDS = 10_000  # reads per acquire: waiting polls once per POLL_S, so only a broken device gets near it

# runner(command, timeout_s) -> (exit status, stdout, stderr); raises on a transport that does not answer
Runner = Callable[[str, float], tuple[int, str, str]]


class LeaseError(RuntimeError):
    """The lease could not be read or written on the device (no flock, permission denied, no answer)."""


class LeaseUnreachable(LeaseError):
    """The device gave no answer to a lease command (its transport failed or timed out)."""


class LeaseBusy(LeaseError):
    """Another run holds the device; the message (one line) names it, its mode and until when."""

    def __init__(self, message: str, blockers: list[Holder]) -> None:
        super().__init__(message)
        self.blockers = blockers


@dataclass(frozen=True)
class Holder:
    """One process's lease as read from the device; `expires` and `acquired` are device epoch seconds."""

    file: str
    run_id: str
    mode: str
    owner: str  # user@host
    host: str
    pid: int
    expires: float
    acquired: float = 0.0
    device: str = ""

    def record(self) -> str:
        """The JSON part of the lease file (the expiry is written by the device, see `_WRITE`)."""
        data = asdict(self)
        del data["file"], data["expires"]
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    def until(self) -> str:
        return _iso(self.expires)


@dataclass(frozen=True)
class State:
    """The lease directory at one instant: the device's clock, the change counter, holders and unreadable files."""

    now: float
    gen: int
    holders: tuple[Holder, ...] = ()
    corrupt: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    granted: bool
    blockers: tuple[Holder, ...] = ()
    stale: tuple[tuple[str, str], ...] = ()  # (file, why it is stale)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def file_name(run_id: str, host: str, pid: int) -> str:
    """The holder's file: one per process, so workers of one run each hold and release their own."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{run_id}.{host}.{pid}")
    return "run-" + safe[:200] + LEASE_SUFFIX  # never a dot file: the shell's *.lease would not list it


# ------------------------------------------------------------------------------------------ pure logic


def parse_state(text: str) -> State:
    """Parses what `_READ` prints: ``now N``, ``gen N`` and ``lease FILE EXPIRES JSON`` lines."""
    now: float | None = None
    gen = 0
    found: list[Holder] = []
    corrupt: list[str] = []
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "now":
            now = float(rest)
        elif kind == "gen":
            gen = int(rest) if rest.strip().isdigit() else 0
        elif kind == "lease":
            name, _, body = rest.partition(" ")
            holder = parse_holder(name, body)
            if holder is None:
                corrupt.append(name)
            else:
                found.append(holder)
    if now is None:
        raise LeaseError(f"the lease directory could not be read: {text.strip()[:200] or 'no output'}")
    return State(now, gen, tuple(found), tuple(corrupt))


def parse_holder(name: str, body: str) -> Holder | None:
    """A holder from one lease file's ``EXPIRES JSON`` line; None when it is not one (half-written, foreign)."""
    expires, _, record = body.strip().partition(" ")
    try:
        data = json.loads(record)
        mode = data["mode"]
        if mode not in MODES:
            return None
        return Holder(
            file=name,
            run_id=str(data["run_id"]),
            mode=mode,
            owner=str(data["owner"]),
            host=str(data["host"]),
            pid=int(data["pid"]),
            expires=float(expires),
            acquired=float(data.get("acquired", 0.0)),
            device=str(data.get("device", "")),
        )
    except (ValueError, KeyError, TypeError):
        return None


def stale_reason(holder: Holder, now: float, local_host: str, pid_alive: Callable[[int], bool]) -> str:
    """Why `holder` no longer holds the device ('' while it does)."""
    if holder.expires < now:
        return f"expired at {holder.until()}"
    if holder.host == local_host and not pid_alive(holder.pid):
        return f"its process {holder.pid} on {holder.host} is gone"
    return ""


def decide(
    state: State, run_id: str, mode: str, local_host: str, pid_alive: Callable[[int], bool]
) -> Decision:
    """Whether `run_id` may hold the device in `mode` now: shared leases mix, an exclusive one mixes with none;
    a run never blocks itself. Stale and unreadable holders are listed for removal."""
    if mode not in MODES:
        raise ValueError(f"lease mode must be one of {', '.join(MODES)}, not {mode!r}")
    stale = [(name, "unreadable lease file") for name in state.corrupt]
    live: list[Holder] = []
    for holder in state.holders:
        why = stale_reason(holder, state.now, local_host, pid_alive)
        if why:
            stale.append((holder.file, why))
        else:
            live.append(holder)
    blockers = [h for h in live if h.run_id != run_id and (mode == EXCLUSIVE or h.mode == EXCLUSIVE)]
    blockers.sort(key=lambda h: (h.mode != EXCLUSIVE, -h.expires))
    return Decision(not blockers, tuple(blockers), tuple(stale))


def busy_message(
    device: str, mode: str, blockers: list[Holder] | tuple[Holder, ...], now: float, waited_s: float, where: str
) -> str:
    """One line: who holds the device, how, until when, and what to do."""
    first = blockers[0]
    more = f" (and {len(blockers) - 1} more run{'s' if len(blockers) > 2 else ''})" if len(blockers) > 1 else ""
    return (
        f"device {device} is leased {first.mode} by {first.owner} (run {first.run_id}, pid {first.pid}) until "
        f"{first.until()} ({max(0.0, first.expires - now):.0f} s from now){more}; waited {waited_s:.0f} s for "
        f"{'an' if mode == EXCLUSIVE else 'a'} {mode} lease; fix: wait for that run to end, raise --lease-wait, "
        f"or remove {where}/{first.file} on the device if that run is gone"
    )


# ------------------------------------------------------------------------------------- on the device

# $1 = directory. Prints the device's clock, the change counter, then each holder file.
_READ = r"""
cd "$1" || exit 3
printf 'now %s\n' "$(date +%s)"
printf 'gen %s\n' "$(cat gen 2>/dev/null || echo 0)"
for f in *.lease; do
  [ -f "$f" ] || continue
  printf 'lease %s %s\n' "$f" "$(head -c 4096 "$f" | head -n 1)"
done
"""

# $1 = directory, $2 = expected gen ('' = any), $3 = own file, $4 = ttl ('' = remove own file, '-' = renew:
# rewrite it only if it still exists), $5 = JSON record; then the stale files to remove.
_WRITE = r"""
cd "$1" || exit 3
g=$(cat gen 2>/dev/null || echo 0)
if [ -n "$2" ] && [ "$2" != "$g" ]; then echo changed; exit 0; fi
own=$3; ttl=$4; record=$5; shift 5
for f in "$@"; do rm -f -- "$f"; done
if [ -z "$ttl" ]; then
  rm -f -- "$own"
else
  case $ttl in -*) [ -f "$own" ] || { echo lost; exit 0; }; ttl=${ttl#-} ;; esac
  printf '%s %s\n' "$(( $(date +%s) + ttl ))" "$record" > ".$own.tmp" && mv -f ".$own.tmp" "$own" || exit 4
fi
echo $((g + 1)) > .gen.tmp && mv -f .gen.tmp gen || exit 4
echo ok
"""


BUSY_MARK = "jetson-hil-lease: lock busy"
NO_DIR_MARK = "jetson-hil-lease: no directory"


def _command(script: str, directory: str, shared: bool, *args: str) -> str:
    """`script` under flock on the lease directory; the flock's own failures are marked on stderr."""
    lock = "-s" if shared else "-x"
    d = shlex.quote(directory)
    argv = " ".join(shlex.quote(a) for a in (directory, *args))
    return (
        f"umask 000; mkdir -p {d} || {{ echo '{NO_DIR_MARK}' >&2; exit 5; }}; "
        f"flock {lock} -w {FLOCK_WAIT_S} {shlex.quote(directory + '/.lock')} sh -c {shlex.quote(script)} sh {argv}; "
        f"rc=$?; [ $rc = 1 ] && echo '{BUSY_MARK}' >&2; exit $rc"
    )


def _call(runner: Runner, command: str, what: str) -> str:
    try:
        rc, out, err = runner(command, COMMAND_TIMEOUT_S)
    except LeaseError:
        raise
    except Exception as exc:  # the transport's own error (LinkDown, RuntimeError of ssh's 255, OSError)
        raise LeaseUnreachable(f"{what}: the device gave no answer: {_one_line(str(exc))}") from None
    if rc == 127 and "flock" in err:
        raise LeaseError(f"{what}: flock is not installed on the device (util-linux or busybox provides it)")
    if rc == 1 and BUSY_MARK in err:
        raise LeaseError(f"{what}: its lock stayed busy for {FLOCK_WAIT_S} s")
    if rc == 5 and NO_DIR_MARK in err:
        raise LeaseError(f"{what}: the directory cannot be created: {_one_line(err.replace(NO_DIR_MARK, ''))}")
    if rc in (3, 4):
        raise LeaseError(f"{what}: cannot write there (exit {rc}): {_one_line(err or out) or 'no error output'}")
    if rc != 0:  # the transport's refusal (ssh's 255, docker exec into a paused or missing container)
        raise LeaseUnreachable(f"{what}: exit status {rc}: {_one_line(err or out) or 'no error output'}")
    return out


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-2:])[:300]


def read_state(runner: Runner, directory: str = DEFAULT_DIR) -> State:
    """The lease directory as it is now (under a shared lock)."""
    return parse_state(_call(runner, _command(_READ, directory, True), f"reading the device lease in {directory}"))


def holders(runner: Runner, directory: str = DEFAULT_DIR) -> list[Holder]:
    """Every holder on record, stale ones included (see `stale_reason`)."""
    return list(read_state(runner, directory).holders)


def pid_alive(pid: int) -> bool:
    """Whether a process of this machine runs under `pid` (one we may not signal counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def local_host() -> str:
    return socket.gethostname()


def owner_name() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{local_host()}"


@dataclass
class Lease:
    """A held lease: renewed in the background until `release` (idempotent)."""

    runner: Runner
    holder: Holder
    directory: str
    ttl_s: float
    renew_errors: list[str] = field(default_factory=list)
    lost: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def mode(self) -> str:
        return self.holder.mode

    def start_renewing(self) -> Lease:
        if self._thread is None:
            self._thread = threading.Thread(target=self._renew_loop, name="jetson-hil-lease", daemon=True)
            self._thread.start()
        return self

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            with contextlib.suppress(LeaseError):
                self.renew()

    def renew(self) -> None:
        """Moves the expiry to now + ttl on the device; a lease another run removed as stale is `lost`."""
        try:
            out = _write(self.runner, self.directory, "", self.holder, f"-{self.ttl_s:.0f}")
        except LeaseError as exc:
            self.renew_errors.append(str(exc))
            raise
        if out == "lost":
            self.lost = True

    def release(self) -> None:
        """Stops renewing and removes this process's file (bounded; a device that does not answer lets it
        expire)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(COMMAND_TIMEOUT_S + 1)
        with contextlib.suppress(LeaseError):
            _write(self.runner, self.directory, "", self.holder, "")

    def abandon(self) -> None:
        """Stops renewing without touching the device (it stopped answering): the lease expires after its ttl."""
        self._stop.set()

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _write(
    runner: Runner, directory: str, gen: str, holder: Holder, ttl: str, stale: tuple[str, ...] = ()
) -> str:
    command = _command(_WRITE, directory, False, gen, holder.file, ttl, holder.record(), *stale)
    lines = _call(runner, command, f"writing the device lease in {directory}").strip().splitlines()
    return lines[-1] if lines else ""


def acquire(
    runner: Runner,
    run_id: str,
    mode: str,
    device: str = "",
    wait_s: float = DEFAULT_WAIT_S,
    ttl_s: float = DEFAULT_TTL_S,
    directory: str = DEFAULT_DIR,
    on_wait: Callable[[str], Any] | None = None,
    poll_s: float = POLL_S,
    pid: int | None = None,
) -> Lease:
    """Takes the device's lease for `run_id` in `mode`, waiting at most `wait_s` seconds for other runs.

    Raises LeaseBusy (one line: holder, mode, until when, what to do) when it is still held after `wait_s`,
    LeaseError when the lease directory cannot be used. `on_wait(line)` is called once when it starts waiting.
    The returned Lease renews itself until released.
    """
    if mode not in MODES:
        raise ValueError(f"lease mode must be one of {', '.join(MODES)}, not {mode!r}")
    if ttl_s < 3:
        raise ValueError(f"lease ttl must be at least 3 s, not {ttl_s:g}")
    host = local_host()
    pid = os.getpid() if pid is None else pid
    started = time.monotonic()
    deadline = started + max(0.0, wait_s)
    told = False
    for _ in range(MAX_ROUNDS):
        state = read_state(runner, directory)
        decision = decide(state, run_id, mode, host, pid_alive)
        stale = tuple(name for name, _ in decision.stale)
        if decision.granted:
            holder = Holder(
                file_name(run_id, host, pid), run_id, mode, owner_name(), host, pid, 0.0, state.now, device
            )
            answer = _write(runner, directory, str(state.gen), holder, f"{ttl_s:.0f}", stale)
            if answer == "ok":
                expires = state.now + ttl_s
                held = Holder(**{**asdict(holder), "expires": expires})
                return Lease(runner, held, directory, ttl_s).start_renewing()
            if answer != "changed":
                raise LeaseError(f"writing the device lease in {directory}: unexpected answer {answer[:100]!r}")
            continue
        if stale:
            _write(runner, directory, str(state.gen), _NOBODY, "", stale)
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            waited = time.monotonic() - started
            message = busy_message(device or "the device", mode, decision.blockers, state.now, waited, directory)
            raise LeaseBusy(message, list(decision.blockers))
        if on_wait is not None and not told:
            told = True
            first = decision.blockers[0]
            on_wait(
                f"waiting up to {wait_s:g} s for the device lease: held {first.mode} by {first.owner} "
                f"(run {first.run_id}) until {first.until()}"
            )
        time.sleep(min(poll_s, remaining))
    raise LeaseError(f"the device lease in {directory} kept changing under us: {MAX_ROUNDS} reads, no write took")


# removes only stale files: its own file name never exists
_NOBODY = Holder(".none", "", SHARED, "", "", 0, 0.0)
