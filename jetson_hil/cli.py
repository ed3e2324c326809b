"""The `jetson-hil` command: `jetson-hil sim up|down|status|fault` manages simulated Jetsons (one, or a fleet
with ``--devices N``); `jetson-hil diagnose FILE|-` names the likely cause and fix of a pasted log;
`jetson-hil report trend|merge|summary` works on report directories (jetson_hil/report/commands.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jetson_hil import l4t


def _progress(message: str) -> None:
    print(f"[sim] {message}", file=sys.stderr, flush=True)


def _fleet_args(parser) -> None:
    parser.add_argument("--devices", type=int, default=0, metavar="N",
                        help="a fleet: N devices sim<FIRST>..sim<FIRST+N-1> instead of --name (see docs/fleet.md)")
    parser.add_argument("--first", type=int, default=1, metavar="K", help="with --devices: the first is simK")


def _sim_parser(sub) -> None:
    from jetson_hil.sim import faults, project

    sim = sub.add_parser("sim", help="manage simulated Jetson devices",
                         description="Start, inspect, fault and stop a simulated Jetson built from real parts.")
    verbs = sim.add_subparsers(dest="verb", required=True)
    up = verbs.add_parser("up", help="start a simulated Jetson (idempotent)",
                          description="Start a simulated Jetson and write a device profile pointing at it.")
    up.add_argument("--name", default="sim1", help="device name (default sim1)")
    up.add_argument("--module", default="orin-nano", choices=sorted(l4t.MODULES), help="Jetson module")
    up.add_argument("--l4t", default="", help="L4T release, e.g. 36.4.0 (default: the module's)")
    up.add_argument("--encoder", default="dinov2-s14", choices=sorted(project.ENCODER_DIMS),
                    help="vl_jepa's encoder")
    up.add_argument("--backend", default="pytorch", choices=project.BACKENDS,
                    help="vl_jepa's backend: pytorch (Plan A) or tensorrt (Plan B, the DINOv2-S/14 engine)")
    up.add_argument("--rate", type=float, default=5.0, help="embeddings per second (default 5)")
    up.add_argument("--kind", default="jetson", choices=("jetson", "dgpu"),
                    help="jetson (default) or dgpu: a discrete-GPU host (an H200 server: nvidia-smi, no L4T)")
    up.add_argument("--gpu", default="auto", choices=("auto", "real", "simulated"),
                    help="the agents' GPU: this host's NVIDIA GPU when it has one (auto, the default), real (fail "
                         "without one) or simulated")
    up.add_argument("--host-torch", default="none", choices=("none", "jetson", "pip"),
                    help="the host python3's torch: none (default), jetson (NVIDIA's wheel, CUDA on the simulated "
                         "GPU) or pip (the CPU-only wheel); Task 1 step 4 runs the probe with it")
    up.add_argument("--fault", action="append", default=[], choices=sorted(faults.FAULTS), metavar="NAME",
                    help="start with this fault (repeatable); see docs/faults.md")
    _fleet_args(up)
    up.add_argument("--fleet-demo", nargs="?", const="nan_embeddings", default=None, choices=sorted(faults.FAULTS),
                    metavar="FAULT", help="with --devices: the last device also gets FAULT (default nan_embeddings)")
    down = verbs.add_parser("down", help="stop a simulated Jetson and leave nothing running",
                            description="Stop the device's containers, unmount its root, stop our engine.")
    down.add_argument("--name", default="sim1")
    down.add_argument("--purge", action="store_true", help="also delete its state directory")
    _fleet_args(down)
    st = verbs.add_parser("status", help="show a simulated Jetson's state as JSON",
                          description="Print the simulated device's configuration and service states.")
    st.add_argument("--name", default="sim1")
    _fleet_args(st)
    fault = verbs.add_parser("fault", help="set or clear a fault on a running simulated Jetson",
                             description="Set or clear a named fault; the device is changed as the fault says.")
    fault.add_argument("action", choices=["set", "clear"])
    fault.add_argument("fault", choices=sorted(faults.FAULTS), metavar="NAME")
    fault.add_argument("--name", default="sim1")


def _run_sim(args) -> int:
    from jetson_hil.sim import simulator
    from jetson_hil.sim.debs import RootfsError
    from jetson_hil.sim.engine import EngineError

    try:
        if getattr(args, "devices", 0):
            return _run_fleet(args)
        if getattr(args, "fleet_demo", None):
            raise simulator.SimError("--fleet-demo needs --devices N (the fault goes on the last device)")
        if args.verb == "up":
            cfg = simulator.SimConfig(name=args.name, module=args.module, l4t=args.l4t, encoder=args.encoder,
                                      backend=args.backend, rate=args.rate, faults=list(dict.fromkeys(args.fault)),
                                      kind=args.kind, gpu=args.gpu,
                                      host_torch="" if args.host_torch == "none" else args.host_torch)
            cfg = simulator.up(cfg, log=_progress)
            print(cfg.root / "device.toml")
        elif args.verb == "down":
            simulator.down(args.name, purge=args.purge, log=_progress)
        elif args.verb == "status":
            print(json.dumps(simulator.status(args.name), indent=2))
        elif args.verb == "fault":
            simulator.set_fault(args.name, args.fault, args.action == "set", log=_progress)
    except (simulator.SimError, EngineError, RootfsError, PermissionError) as exc:
        print(f"jetson-hil sim {args.verb}: {exc}", file=sys.stderr)
        return 1
    return 0


def _run_fleet(args) -> int:
    """`sim up|down|status --devices N [--first K]`: each device in turn; `up` writes the fleet inventory."""
    from jetson_hil.sim import fleet, simulator

    devices = fleet.names(args.devices, args.first)
    if args.verb == "up":
        base = simulator.SimConfig(module=args.module, l4t=args.l4t, encoder=args.encoder, backend=args.backend,
                                   rate=args.rate, faults=list(dict.fromkeys(args.fault)), kind=args.kind,
                                   gpu=args.gpu)
        print(fleet.up(base, devices, args.fleet_demo, log=_progress))
    elif args.verb == "down":
        fleet.down(devices, purge=args.purge, log=_progress)
    else:
        print(json.dumps([simulator.status(name) for name in devices], indent=2))
    return 0


def _diagnose_parser(sub) -> None:
    diag = sub.add_parser("diagnose", help="name the likely cause and fix of an error log",
                          description="Diagnose a log (a file, or - for stdin): each known failure's id, cause, "
                                      "fix and the evidence line. Exit 0: none found; 1: diagnoses printed; "
                                      "2: the input could not be read.")
    diag.add_argument("files", nargs="+", metavar="FILE|-", help="log file(s); - reads standard input")
    diag.add_argument("--json", action="store_true", help="print the diagnoses as a JSON list")


def _run_diagnose(args) -> int:
    """Exit 0 when no known failure is found, 1 when diagnoses are printed, 2 when an input cannot be read."""
    from jetson_hil import diagnosis

    texts, names = [], []
    for name in args.files:
        try:
            texts.append(sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            print(f"jetson-hil diagnose: cannot read {name}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        names.append("stdin" if name == "-" else name)
    found = diagnosis.diagnose(*texts, sources=names)
    if args.json:
        print(json.dumps([d.as_dict() for d in found], indent=2))
    elif found:
        print(diagnosis.format_report(found))
    else:
        print("no known failure signature found")
    return 1 if found else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jetson-hil", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _sim_parser(sub)
    _diagnose_parser(sub)
    from jetson_hil.report import commands as report_commands

    report_commands.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "sim":
        return _run_sim(args)
    if args.command == "diagnose":
        return _run_diagnose(args)
    if args.command == "report":
        return report_commands.run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
