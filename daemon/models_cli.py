"""``triaged train`` and ``triaged eval``: the models, rebuilt and measured from the datasets.

``train`` fits every model from the shared datasets by their README split rules and writes
artifacts, manifests and model cards (docs/models.md); ``eval`` loads the models the way
``serve`` does (hash, feature schema and label set checked) and prints their figures on the
fixed test splits, plus the alert model on hand-written alerts in other words.
scikit-learn is imported only when one of them runs, so the rest of the CLI stays light.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

DEFAULT_DATASETS = "../shared/datasets"
DEFAULT_MODELS = "models"
DEFAULT_REWORDINGS = "tests/data/reworded_alerts.json"


def add_commands(commands: Any) -> None:
    train = commands.add_parser("train", help="train every model from the shared datasets")
    _common(train)
    train.add_argument("--out", default=DEFAULT_MODELS, help="models directory (models/)")
    train.add_argument(
        "--seed", type=int, default=0, help="seed of the calibration and stacking folds"
    )
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("eval", help="figures of the models on the fixed test splits")
    _common(evaluate)
    evaluate.add_argument("--models", default=DEFAULT_MODELS, help="models directory (models/)")
    evaluate.add_argument(
        "--rewordings",
        help=f"hand-written alerts to test the alert model on (default: {DEFAULT_REWORDINGS} "
        "when it exists)",
    )
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluate.set_defaults(run=_eval)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--datasets", default=DEFAULT_DATASETS, help=f"shared datasets ({DEFAULT_DATASETS})"
    )
    parser.add_argument(
        "--sample",
        type=_fraction,
        help="keep this fraction (0-1] of each large dataset, for quick checks",
    )
    parser.add_argument("--only", help="comma-separated model names (default: all)")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _model_names(text: str | None) -> list[str] | None:
    """``--only`` as a list; ``None`` for all models. Raises ``ValueError`` on an unknown name."""
    if text is None:
        return None
    from triage.classify.estimators import SPEC_BY_NAME

    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SPEC_BY_NAME]
    if unknown or not names:
        raise ValueError(
            f"--only: unknown model {', '.join(unknown) or repr(text)}; "
            f"known: {', '.join(SPEC_BY_NAME)}"
        )
    return names


def _inputs(args: argparse.Namespace) -> tuple[Path, list[str] | None] | None:
    """The datasets directory and model names, or ``None`` after saying what is wrong."""
    path = Path(args.datasets)
    if not path.is_dir():
        print(f"triaged: datasets directory {path} not found (--datasets)", file=sys.stderr)
        return None
    try:
        return path, _model_names(args.only)
    except ValueError as exc:
        print(f"triaged: {exc}", file=sys.stderr)
        return None


def _train(args: argparse.Namespace) -> int:
    inputs = _inputs(args)
    if inputs is None:
        return 2
    datasets, only = inputs
    from triage.classify import format_report, train_all

    started = time.perf_counter()
    try:
        reports = train_all(datasets, Path(args.out), sample=args.sample, seed=args.seed, only=only)
    except FileNotFoundError as exc:
        print(f"triaged: cannot read a dataset: {exc}", file=sys.stderr)
        return 2
    print(format_report(reports))
    print(f"trained {len(reports)} models into {args.out} in {time.perf_counter() - started:.0f}s")
    return 0


def _rewordings(args: argparse.Namespace) -> Path | None:
    if args.rewordings is not None:
        return Path(args.rewordings)
    default = Path(DEFAULT_REWORDINGS)
    return default if default.is_file() else None


def _eval(args: argparse.Namespace) -> int:
    inputs = _inputs(args)
    if inputs is None:
        return 2
    datasets, only = inputs
    from triage.classify import ModelLoadError, evaluate_all, format_report

    rewordings = _rewordings(args)
    try:
        reports = evaluate_all(
            datasets, Path(args.models), rewordings=rewordings, sample=args.sample, only=only
        )
    except ModelLoadError as exc:
        print(f"triaged: {exc}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"triaged: cannot read: {exc}", file=sys.stderr)
        return 2
    except msgspec.DecodeError as exc:
        print(f"triaged: {rewordings}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(msgspec.json.format(msgspec.json.encode(reports)).decode())
    else:
        print(format_report(reports))
    return 0
