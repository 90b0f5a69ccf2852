"""Command line: ``python -m app run`` for one experiment, ``python -m app sweep`` for a grid.

The options are the parameters of :class:`~app.config.ExperimentConfig`, with ``-`` for
``_`` (``--learning-rate`` sets ``learning_rate``), documented from the parameters' own docs.
Options not given keep the example's defaults (:meth:`ExperimentConfig.for_example`).

Examples
--------
::

    python -m app run --example szt --activation tanh --beta 0.005 --epochs 2000 --out runs/szt
    python -m app run --resume runs/szt
    python -m app sweep --example szt --beta 0.005 0.01 --seed 0 1 --epochs 500 --root runs/grid
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import param

from app.config import EXAMPLE_NAMES, ExperimentConfig

# Parameters that a sweep takes several values of.
SWEEP_PARAMETERS = ("beta", "activation", "orthonormal_alpha", "seed")


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _bounds_text(parameter: param.Parameter) -> str:
    low, high = parameter.bounds or (None, None)
    inclusive = getattr(parameter, "inclusive_bounds", (True, True))
    parts = []
    if low is not None:
        parts.append(f"{'>=' if inclusive[0] else '>'} {low:g}")
    if high is not None:
        parts.append(f"{'<=' if inclusive[1] else '<'} {high:g}")
    return " and ".join(parts)


def _number_type(name: str, parameter: param.Parameter, integer: bool) -> Any:
    """Return an argparse type that parses a number and checks the parameter's bounds."""

    def parse(text: str) -> Any:
        if parameter.allow_None and text.lower() == "none":
            return None
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            kind = "an integer" if integer else "a number"
            raise argparse.ArgumentTypeError(
                f"{name} must be {kind}{' or none' if parameter.allow_None else ''}, not {text!r}"
            ) from None
        if not integer and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{name} must be finite, not {text!r}")
        low, high = parameter.bounds or (None, None)
        inclusive = getattr(parameter, "inclusive_bounds", (True, True))
        if low is not None and (value < low or (value == low and not inclusive[0])):
            rule = "at least" if inclusive[0] else "greater than"
            raise argparse.ArgumentTypeError(f"{name} must be {rule} {low:g}, not {text}")
        if high is not None and (value > high or (value == high and not inclusive[1])):
            rule = "at most" if inclusive[1] else "less than"
            raise argparse.ArgumentTypeError(f"{name} must be {rule} {high:g}, not {text}")
        return value

    parse.__name__ = name
    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bin_sizes must be numbers, not {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"bin_sizes must be greater than 0, not {text}")
    return value


def add_config_options(
    parser: argparse.ArgumentParser, *, multiple: Sequence[str] = (), skip: Sequence[str] = ()
) -> None:
    """Add one option per configuration parameter, documented from the parameter's doc.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    multiple : sequence of str
        Parameters that take one or more values (the grid of a sweep).
    skip : sequence of str
        Parameters to leave out.
    """
    group = parser.add_argument_group(
        "experiment settings (default: the example's value, see ExperimentConfig.for_example)"
    )
    for name in ExperimentConfig.param:
        if name == "name" or name in skip:
            continue
        parameter = ExperimentConfig.param[name]
        doc = " ".join((parameter.doc or "").split())
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS}
        generic = parameter.default
        if isinstance(parameter, param.ListSelector):
            kwargs.update(nargs="*", choices=list(parameter.objects), metavar="QUANTITY")
            doc += f" Choices: {', '.join(parameter.objects)}."
        elif isinstance(parameter, param.Selector):
            kwargs.update(choices=list(parameter.objects))
        elif isinstance(parameter, param.List):
            kwargs.update(nargs="+", type=_positive_float, metavar="SIZE")
        elif isinstance(parameter, param.Integer):
            kwargs.update(type=_number_type(name, parameter, True), metavar="INT")
        elif isinstance(parameter, param.Number):
            kwargs.update(type=_number_type(name, parameter, False), metavar="X")
        bounds = (
            _bounds_text(parameter) if isinstance(parameter, (param.Number, param.Integer)) else ""
        )
        if bounds:
            doc += f" Must be {bounds}."
        if getattr(parameter, "allow_None", False) and not isinstance(parameter, param.Selector):
            doc += " 'none' gives None."
        if name in multiple:
            kwargs["nargs"] = "+"
            doc += " Several values make a grid."
        doc += f" Generic default: {generic!r}."
        group.add_argument(_option(name), help=doc.replace("%", "%%"), **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``python -m app``."""
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="Train noisy networks and estimate the information flow through them.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{run,sweep}")

    run = commands.add_parser(
        "run",
        help="run one experiment headless and write its run folder",
        description="Run one experiment, writing a run folder and printing a summary table.",
    )
    run.add_argument(
        "--out",
        type=Path,
        default=None,
        help="run folder to create (default: runs/EXAMPLE_YYYYmmdd-HHMMSS)",
    )
    run.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="FOLDER",
        help="continue the incomplete run in FOLDER (other settings are taken from it)",
    )
    run.add_argument("--csv", action="store_true", help="also write metrics.csv into the folder")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_options(run)

    sweep = commands.add_parser(
        "sweep",
        help="run a grid over beta, activation, orthonormal_alpha and seed on dask",
        description=(
            "Run every combination of the given beta, activation, orthonormal_alpha and seed "
            "values, one dask task and one run folder each, and report the mean and spread "
            "across seeds per epoch and layer."
        ),
    )
    sweep.add_argument(
        "--root", type=Path, required=True, help="folder that receives one run folder per task"
    )
    sweep.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="address of a running dask scheduler (default: start a LocalCluster)",
    )
    sweep.add_argument(
        "--workers",
        type=_number_type("workers", param.Integer(1, bounds=(1, None)), True),
        default=None,
        help="worker processes of the LocalCluster (default: the number of CPU cores, at most 4)",
    )
    sweep.add_argument(
        "--n-seeds",
        type=_number_type("n_seeds", param.Integer(1, bounds=(1, None)), True),
        default=None,
        help="use seeds 0 ... N-1 (instead of --seed)",
    )
    sweep.add_argument("--quiet", action="store_true", help="no progress line")
    add_config_options(sweep, multiple=SWEEP_PARAMETERS)
    return parser


def config_from_args(args: argparse.Namespace, skip: Sequence[str] = ()) -> ExperimentConfig:
    """Return the configuration the parsed options describe (example defaults elsewhere)."""
    names = [n for n in ExperimentConfig.param if n != "name" and n not in skip]
    overrides = {name: getattr(args, name) for name in names if hasattr(args, name)}
    example = overrides.pop("example", "szt")
    return ExperimentConfig.for_example(example, **overrides)


class ProgressBar:
    """A one-line progress bar on a text stream, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.width = width
        self.start = time.monotonic()
        self._last = 0.0
        self.note = ""

    def __call__(self, done: int, total: int) -> None:
        """Draw the bar for ``done`` of ``total``."""
        now = time.monotonic()
        if now - self._last < 0.1 and done < total:
            return
        self._last = now
        fraction = done / total if total else 1.0
        filled = int(round(self.width * fraction))
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = now - self.start
        self.stream.write(
            f"\r[{bar}] {done}/{total} {100 * fraction:5.1f}% {elapsed:7.1f} s {self.note}"
        )
        self.stream.flush()

    def close(self) -> None:
        """End the line."""
        self.stream.write("\n")
        self.stream.flush()


def summary_table(frame: Any) -> str:
    """Return a text table of the last measured epoch: one line per layer, then the scores."""
    if frame.empty:
        return "no epoch was measured"
    last = int(frame["epoch"].max())
    rows = frame[frame["epoch"] == last]
    lines = [f"epoch {last}"]

    layers = sorted(int(v) for v in rows["layer"].dropna().unique())
    columns = [
        ("i_xt", "I(X;T)"),
        ("i_xt_exact", "exact"),
        ("i_yt", "I(Y;T)"),
        ("h_bin", "H(Bin(T))"),
    ]
    present = [(q, title) for q, title in columns if (rows["quantity"] == q).any()]
    if layers and present:
        header = f"{'layer':>5}" + "".join(f"{title:>20}" for _, title in present)
        lines.append(header)
        for layer in layers:
            cells = []
            for quantity, _ in present:
                match = rows[(rows["layer"] == layer) & (rows["quantity"] == quantity)]
                if match.empty:
                    cells.append(f"{'':>20}")
                    continue
                first = match.iloc[0]
                text = f"{first['value']:.4f}"
                if first["stderr"] == first["stderr"] and quantity != "h_bin":
                    text += f" ± {first['stderr']:.4f}"
                cells.append(f"{text:>20}")
            lines.append(f"{layer:>5}" + "".join(cells))

    scores = rows[rows["layer"].isna() & rows["quantity"].isin(["loss", "accuracy"])]
    for _, row in scores.iterrows():
        lines.append(f"{row['split']} {row['quantity']}: {row['value']:.4f}")
    lines.append("(nats)")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    from app.runner import Runner

    if args.resume is not None:
        runner = Runner.resume(args.resume)
        out = args.resume
    else:
        config = config_from_args(args)
        out = args.out or Path("runs") / f"{config.example}_{time.strftime('%Y%m%d-%H%M%S')}"
        runner = Runner(config, out=out)

    bar = None if args.quiet else ProgressBar()
    if bar is not None:

        def show(record: Any) -> None:
            bar.note = f"measured epoch {record.epoch}"

        runner.progress = bar
        runner.callback = show
    try:
        runner.run()
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        print(f"interrupted; resume with: python -m app run --resume {out}", file=sys.stderr)
        return 130
    if bar is not None:
        bar.close()

    if args.csv and runner.store is not None:
        runner.store.export_csv()
    print(f"run folder: {out}")
    print(summary_table(runner.frame()))
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from app.sweeps import grid_configs, run_sweep, sweep_summary

    values = {name: getattr(args, name) for name in SWEEP_PARAMETERS if hasattr(args, name)}
    if args.n_seeds is not None:
        if "seed" in values:
            raise SystemExit("give either --seed or --n-seeds, not both")
        values["seed"] = list(range(args.n_seeds))
    base = config_from_args(args, skip=SWEEP_PARAMETERS)
    configs = grid_configs(base, **values)

    bar = None if args.quiet else ProgressBar()
    aggregate = run_sweep(
        configs,
        args.root,
        scheduler=args.scheduler,
        n_workers=args.workers,
        progress=bar,
    )
    if bar is not None:
        bar.close()
    print(f"sweep folder: {args.root}  ({len(configs)} runs)")
    print(sweep_summary(aggregate))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        return _sweep(args)
    except (ValueError, FileExistsError, FileNotFoundError) as exc:
        parser.exit(2, f"{parser.prog} {args.command}: error: {exc}\n")
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["EXAMPLE_NAMES", "build_parser", "config_from_args", "main", "summary_table"]
