"""CPU use of one process and its children on the device, read from /proc: what the suite's own long-lived
device process (the tegrastats it starts, or the dGPU sampler) costs the device it measures.

One shell command, no tool the device may lack: ``/proc/uptime``, ``getconf CLK_TCK``, the process's stat and
those of its direct children (``sudo`` or ``nohup`` in front of the sampler leave it a child of the launched pid).

>>> text = "1000.50 3000.00\\n100\\n4242 (sudo) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 1 0 0 20 0 1 0 90000 0 0\\n"
>>> text += "4243 (tegrastats) S 4242 4242 4242 0 -1 4194560 100 0 0 0 30 20 0 0 20 0 1 0 90010 0 0\\n"
>>> found = parse(text, 4242)
>>> found.cpu_s, round(found.lifetime_s, 2), found.processes, round(found.percent_of_core, 3)
(0.52, 100.5, 2, 0.517)
"""

from __future__ import annotations

from dataclasses import dataclass

from jetson_hil.errors import ParseError


def command(pid: int) -> str:
    """The shell command whose output `parse` reads."""
    return (f"cat /proc/uptime; getconf CLK_TCK; cat /proc/{int(pid)}/stat; "
            f"awk '$4 == {int(pid)}' /proc/[0-9]*/stat 2>/dev/null; true")


@dataclass(frozen=True)
class ProcessCpu:
    cpu_s: float  # user + system, the process's and its children's (live and reaped)
    lifetime_s: float  # since the process started
    processes: int

    @property
    def percent_of_core(self) -> float:
        """Average CPU over the process's life, in percent of one core."""
        return 100.0 * self.cpu_s / self.lifetime_s if self.lifetime_s > 0 else 0.0


def _stat(line: str) -> tuple[int, int, float, int]:
    """(pid, ppid, CPU ticks incl. reaped children, start time in ticks) of one /proc/PID/stat line."""
    head, _, rest = line.rpartition(")")
    fields = rest.split()
    if not head or len(fields) < 20:
        raise ParseError("not a /proc/PID/stat line", line)
    pid = int(head.split("(", 1)[0])
    return pid, int(fields[1]), sum(int(v) for v in fields[11:15]), int(fields[19])


def parse(text: str, pid: int) -> ProcessCpu:
    """The output of `command(pid)`; ParseError naming what is missing when the process is gone."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) < 3:
        raise ParseError(f"process {pid} is not running on the device (no /proc/{pid}/stat)", text)
    try:
        uptime, tck = float(lines[0].split()[0]), int(lines[1])
    except (ValueError, IndexError):
        raise ParseError("unexpected /proc/uptime or CLK_TCK", "\n".join(lines[:2])) from None
    stats = {}
    for line in lines[2:]:
        p, ppid, ticks, start = _stat(line)
        if p == pid or ppid == pid:
            stats[p] = (ticks, start)
    if pid not in stats:
        raise ParseError(f"process {pid} is not running on the device (no /proc/{pid}/stat)", text)
    return ProcessCpu(
        cpu_s=sum(t for t, _ in stats.values()) / tck,
        lifetime_s=uptime - stats[pid][1] / tck,
        processes=len(stats),
    )
