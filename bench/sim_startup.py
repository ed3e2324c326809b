"""Simulator footprint: cold `sim up` (no images, no state), warm `sim up` (images kept), and `sim down`.

Run as root: `.venv/bin/python bench/sim_startup.py [--encoder tiny|dinov2-s14]`. Targets (issue 3):
cold within 60 s, warm within 15 s, down within 10 s on 2 cores. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import time

from jetson_hil.sim import engine, simulator


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _remove_images() -> None:
    """Every image no container uses: the simulator's base tags and its agents' images are built again."""
    engine.client(timeout=300).images.prune(filters={"dangling": False})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--encoder", default="tiny")
    args = parser.parse_args()
    name = "simbench"
    quiet = lambda m: None  # noqa: E731
    simulator.down(name, purge=True, log=quiet)
    engine.ensure(log=quiet)
    _remove_images()
    cfg = simulator.SimConfig(name=name, encoder=args.encoder)
    cold = _timed(lambda: simulator.up(cfg, log=quiet))
    down = _timed(lambda: simulator.down(name, log=quiet))
    warm = _timed(lambda: simulator.up(simulator.SimConfig(name=name, encoder=args.encoder), log=quiet))
    again = _timed(lambda: simulator.up(simulator.SimConfig(name=name, encoder=args.encoder), log=quiet))
    simulator.down(name, purge=True, log=quiet)
    print(f"encoder            {args.encoder}")
    print(f"cold up            {cold:6.1f} s   (target 60 s)")
    print(f"down               {down:6.1f} s   (target 10 s)")
    print(f"warm up            {warm:6.1f} s   (target 15 s)")
    print(f"up when already up {again:6.1f} s")


if __name__ == "__main__":
    main()
