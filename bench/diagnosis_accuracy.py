"""How well jetson_hil.diagnosis knows real error texts: accuracy on the corpus of texts quoted from public
threads (selftests/data/errors/*.yaml), split by source thread into a tuning part and a held-out part that the
catalogue was not tuned on, the false alarms on healthy logs, and the confusion between families.

Split rule (fixed): an entry is held out when the first hex digit of sha256(its source URL) is < 4, so every
entry of one thread lands on the same side. An entry is correct when the first diagnosis's id is one of its
`expect` ids. Healthy lines (selftests/data/healthy_logs/*.txt, one per line, `#` comments skipped, plus the
real tegrastats captures in fixtures/data/tegrastats/) must give no diagnosis at all.

    .venv/bin/python bench/diagnosis_accuracy.py            # the report
    .venv/bin/python bench/diagnosis_accuracy.py --misses   # also every wrong entry
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from jetson_hil.diagnosis import CATALOGUE, diagnose, signature  # noqa: E402

ERRORS = ROOT / "selftests" / "data" / "errors"
HEALTHY = ROOT / "selftests" / "data" / "healthy_logs"
TEGRASTATS = ROOT / "fixtures" / "data" / "tegrastats"
PROBE_PASS = ROOT / "fixtures" / "data" / "probe"
# Real captures from healthy devices (fixtures/data/real/<L4T>/): the files that describe no fault.
REAL = ROOT / "fixtures" / "data" / "real"
REAL_HEALTHY = ("jetson_release.txt", "dpkg_l_l4t_core.txt", "dpkg_l_jetpack.txt", "packages.txt", "identity.txt",
                "nvcc_line.txt", "python_packages.txt", "cuda_dirs.txt", "device_tree_model.txt",
                "tegrastats_nonroot.txt")
WHERE = {"container log", "probe", "docker CLI", "compose", "dmesg", "tegrastats", "pip"}
FIELDS = {"text", "where", "source", "device", "expect", "note"}

# The floors the selftest enforces (issue 18).
MIN_ENTRIES, MIN_THREADS = 150, 60
HELD_OUT_FLOOR, TUNING_FLOOR, MIN_HEALTHY = 0.90, 0.97, 100


@dataclass(frozen=True)
class Entry:
    """One real error text: as printed, where, the thread it was quoted from, and the right diagnosis ids."""

    text: str
    where: str
    source: str
    expect: tuple[str, ...]
    device: str
    file: str

    @property
    def held_out(self) -> bool:
        return held_out(self.source)


def held_out(url: str) -> bool:
    """The fixed split: by thread, sha256 of the URL, first hex digit 0-3 -> held out (about a quarter)."""
    return hashlib.sha256(url.encode()).hexdigest()[0] in "0123"


def load_errors(folder: Path = ERRORS) -> list[Entry]:
    """Every corpus entry; ValueError naming the file and entry for a malformed one."""
    entries = []
    for path in sorted(folder.glob("*.yaml")):
        for n, raw in enumerate(yaml.safe_load(path.read_text()) or [], 1):
            where = f"{path.name} entry {n}"
            if not isinstance(raw, dict) or not {"text", "where", "source", "expect"} <= raw.keys():
                raise ValueError(f"{where}: needs text, where, source and expect")
            if set(raw) - FIELDS:
                raise ValueError(f"{where}: unknown fields {sorted(set(raw) - FIELDS)}")
            if raw["where"] not in WHERE:
                raise ValueError(f"{where}: where={raw['where']!r} is not one of {sorted(WHERE)}")
            if not str(raw["source"]).startswith("https://"):
                raise ValueError(f"{where}: source must be the thread's URL")
            expect = tuple(raw["expect"])
            for sid in expect:
                signature(sid)  # KeyError for an unknown id
            entries.append(Entry(str(raw["text"]), raw["where"], raw["source"], expect, str(raw.get("device", "")),
                                 path.name))
    return entries


def healthy_files(folder: Path = HEALTHY) -> list[Path]:
    """The healthy corpus, the real tegrastats captures, the passing probe outputs, the healthy real captures."""
    real = [p for name in REAL_HEALTHY for p in sorted(REAL.glob(f"*/{name}"))]
    return [*sorted(folder.glob("*.txt")), *sorted(TEGRASTATS.glob("*.txt")), *sorted(PROBE_PASS.glob("pass_*.txt")),
            *real]


def load_healthy(folder: Path = HEALTHY) -> list[tuple[str, str]]:
    """(file, line) for every healthy line (`#` comment lines skipped)."""
    lines = []
    for path in healthy_files(folder):
        name = str(path.relative_to(ROOT))
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                lines.append((name, line))
    return lines


def first_id(text: str) -> str:
    found = diagnose(text)
    return found[0].id if found else "(none)"


@dataclass
class Score:
    correct: int = 0
    total: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.correct}/{self.total} = {100 * self.accuracy:.1f} %"


def family_of(sid: str) -> str:
    return signature(sid).family or sid if sid != "(none)" else "(none)"


def evaluate(entries: list[Entry]) -> tuple[Score, Score, list[tuple[Entry, str]], Counter]:
    """(tuning score, held-out score, misses as (entry, got), family confusion (expected, got) -> count)."""
    tuning, held = Score(), Score()
    misses: list[tuple[Entry, str]] = []
    confusion: Counter = Counter()
    for e in entries:
        got = first_id(e.text)
        score = held if e.held_out else tuning
        score.total += 1
        want = family_of(e.expect[0])
        if got in e.expect:
            confusion[(want, want)] += 1
        else:  # a wrong id inside the right family still counts, and shows, as a miss
            confusion[(want, family_of(got) + (" (other id)" if family_of(got) == want else ""))] += 1
        if got in e.expect:
            score.correct += 1
        else:
            misses.append((e, got))
    return tuning, held, misses, confusion


def false_alarms(lines: list[tuple[str, str]]) -> list[tuple[str, str, list[str]]]:
    """(file, line, ids) for each healthy line that gets any diagnosis, and for all lines of a file at once."""
    alarms = []
    for name, line in lines:
        ids = [d.id for d in diagnose(line)]
        if ids:
            alarms.append((name, line, ids))
    by_file: dict[str, list[str]] = {}
    for name, line in lines:
        by_file.setdefault(name, []).append(line)
    for name, file_lines in by_file.items():
        ids = [d.id for d in diagnose("\n".join(file_lines))]
        if ids:
            alarms.append((name, "(the whole file)", ids))
    return alarms


def report(show_misses: bool = False) -> str:
    entries = load_errors()
    healthy = load_healthy()
    tuning, held, misses, confusion = evaluate(entries)
    alarms = false_alarms(healthy)
    threads = {e.source for e in entries}
    out = [
        f"corpus: {len(entries)} entries from {len(threads)} threads "
        f"({sum(e.held_out for e in entries)} held out, from {len({e.source for e in entries if e.held_out})} "
        f"threads); {len(CATALOGUE)} signatures",
        f"tuning accuracy:   {tuning}   (floor {100 * TUNING_FLOOR:.0f} %)",
        f"held-out accuracy: {held}   (floor {100 * HELD_OUT_FLOOR:.0f} %)",
        f"healthy lines: {len(healthy)}, false alarms: {len(alarms)}",
        "",
        "family confusion (expected -> got: entries)",
    ]
    for (want, got), n in sorted(confusion.items(), key=lambda kv: (kv[0][0], kv[0][1] != kv[0][0], kv[0][1])):
        out.append(f"  {want:24} -> {got:24} {n:4d}" + ("" if want == got else "   <-- miss"))
    for name, line, ids in alarms:
        out.append(f"FALSE ALARM {name}: {ids}: {line[:160]}")
    if show_misses:
        for e, got in misses:
            side = "held-out" if e.held_out else "tuning"
            out.append(f"MISS ({side}) {e.file} {e.source}: expected {list(e.expect)}, got {got}: "
                       f"{e.text.splitlines()[-1][:160]!r}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--misses", action="store_true", help="also list every wrongly diagnosed entry")
    args = parser.parse_args(argv)
    print(report(args.misses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
