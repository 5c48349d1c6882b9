"""Command line: `python -m bench [options]` runs the suite, `python -m bench setup`
creates the bench virtualenv with the peer frameworks, `python -m bench report` prints
the tables of a saved run again, `python -m bench interleaved` times the NumPy-based
MLP steps in one process (bench.interleaved)."""

import argparse
import json
import sys
from pathlib import Path

from bench import env
from bench.frameworks import FRAMEWORKS, REFERENCE, select
from bench.workloads import WORKLOADS


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark chainrule against hand-written NumPy and other autodiff "
        "libraries. Each case runs in a fresh interpreter.",
        epilog="`python -m bench setup` first creates .bench-venv with the peers.",
    )
    parser.add_argument(
        "command",
        nargs="?",
        choices=["run", "setup", "report", "interleaved"],
        default="run",
        help="run the suite (default), set up the peers, print the "
        "tables of a saved run (--json) again, or time the NumPy-based "
        "MLP steps (or, --only cnn_step, the LeNet steps with PyTorch) "
        "in one process, in alternating blocks",
    )
    parser.add_argument(
        "--quick", action="store_true", help="few repeats: a smoke run, not numbers to quote"
    )
    parser.add_argument(
        "--only", metavar="WORKLOAD[,...]", help=f"workloads to run, from: {', '.join(WORKLOADS)}"
    )
    parser.add_argument(
        "--frameworks",
        metavar="NAME[,...]",
        help=f"frameworks to run, from: {', '.join(FRAMEWORKS)} "
        "(a family name such as jax also selects jax_jit)",
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds allowed for one case (default 600)"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each case, wait up to this long for other processes "
        "to leave the CPUs idle (default 0: do not wait)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        metavar="N",
        help="measure the short workloads (mlp_step, small_ops, cnn_step, "
        "conv2d) N times, every framework in turn each round, and "
        "report each case's fastest round (default 1)",
    )
    parser.add_argument(
        "--turns",
        type=int,
        metavar="N",
        help="interleaved: how many times every framework's block runs "
        "(default: bench.interleaved.TURNS)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        help="where to save all results (default bench/results.json; "
        "interleaved: bench/interleaved.json)",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="PATH",
        help="also write the tables as Markdown, e.g. bench/RESULTS.md",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.command == "setup":
        return env.setup()
    # Imported here: they need NumPy, and `setup` must run where nothing is installed.
    from bench import interleaved, report, runner

    if args.command == "interleaved":
        workload = args.only or "mlp_step"
        if workload not in interleaved.WORKLOADS:
            sys.exit(
                f"interleaved: --only takes one of {', '.join(interleaved.WORKLOADS)}, "
                f"got {workload!r}"
            )
        name = "interleaved.json" if workload == "mlp_step" else f"interleaved_{workload}.json"
        return interleaved.run(
            None, args.turns or interleaved.TURNS, args.json or env.ROOT / "bench" / name, workload
        )
    args.json = args.json or env.ROOT / "bench" / "results.json"
    if args.command == "report":
        return _report(report, json.loads(args.json.read_text()), args.markdown)
    workloads = args.only.split(",") if args.only else list(WORKLOADS)
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        sys.exit(f"unknown workload(s): {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    try:
        frameworks = select(args.frameworks.split(",") if args.frameworks else FRAMEWORKS)
    except ValueError as exc:
        sys.exit(str(exc))
    if REFERENCE not in frameworks:
        # Ratios are only meaningful against a reference measured in the same run.
        frameworks.insert(0, REFERENCE)
    if env.venv_python() is None:
        print(
            "note: no .bench-venv (run `python -m bench setup`); peers will be skipped",
            file=sys.stderr,
        )
    data = runner.run_all(
        frameworks,
        workloads,
        quick=args.quick,
        timeout=args.timeout,
        quiet_wait=args.wait_quiet,
        busy_threshold=report.BUSY_WARNING,
        rounds=max(args.rounds, 1),
    )
    runner.save_json(data, args.json)
    _report(report, data, args.markdown)
    print(f"results saved to {args.json}")
    return 0


def _report(report, data, markdown):
    print(report.as_text(data))
    if markdown:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(report.as_markdown(data))
        print(f"markdown written to {markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
