"""The options that several ``ternecg`` subcommands share: one name, one meaning, one help text.

A subcommand module adds them to its parser with these helpers instead of writing its own
``add_argument``, so ``--model`` is a model file everywhere, ``--out`` an output folder everywhere
and so on (tests/ternecg/test_cli.py checks every registered subcommand against :data:`MEANINGS`).
Lists are comma-separated everywhere (``--parallel 1,2,3``, ``--seed 0,1,2``, ``--records 100,207``).

Argument types (:func:`positive_int`, :func:`nonnegative_int`, :func:`positive_float`, ...) reject
nonsense (0, negative, NaN, inf, booleans) with one line that names the value. This module imports
nothing heavy: ``ternecg --help`` stays fast.
"""

from __future__ import annotations

import argparse
import math

#: option -> the start of its help text: the one meaning the option has in every subcommand
MEANINGS = {
    "--model": "model file",
    "--models": "folder of the shipped model files",
    "--parallel": "accelerator PARALLEL",
    "--board": "FPGA board",
    "--db": "MIT-BIH database folder",
    "--out": "output folder",
    "--seed": "training seed",
    "--jobs": "worker processes",
    "--limit": "only the first N",         # beats, or samples of each record: a quick run
    "--epochs": "training epochs",
    "--baud": "UART baud rate",
}


# ---- argument types --------------------------------------------------------------------------

def integer(text: str) -> int:
    """Any integer (the subcommand checks its range and names the limit)."""
    try:
        return int(str(text).strip(), 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def positive_int(text: str) -> int:
    """An integer >= 1."""
    v = integer(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} must be at least 1")
    return v


def nonnegative_int(text: str) -> int:
    """An integer >= 0."""
    v = integer(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"{v} must not be negative")
    return v


def positive_float(text: str) -> float:
    """A finite number > 0 (rejects 0, negative, NaN and inf)."""
    try:
        v = float(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number greater than 0")
    return v


def int_list(text: str) -> list[int]:
    """Comma-separated integers, e.g. ``1,2,3`` (at least one)."""
    parts = [p.strip() for p in str(text).split(",")]
    if not parts or any(not p for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} must be comma-separated integers, e.g. 1,2,3")
    return [integer(p) for p in parts]


def positive_int_list(text: str) -> list[int]:
    """Comma-separated integers >= 1."""
    vals = int_list(text)
    bad = [v for v in vals if v < 1]
    if bad:
        raise argparse.ArgumentTypeError(f"{bad[0]} in {text!r} must be at least 1")
    return vals


def nonnegative_int_list(text: str) -> list[int]:
    """Comma-separated integers >= 0."""
    vals = int_list(text)
    bad = [v for v in vals if v < 0]
    if bad:
        raise argparse.ArgumentTypeError(f"{bad[0]} in {text!r} must not be negative")
    return vals


def str_list(text: str) -> list[str]:
    """Comma-separated names, e.g. ``msgc,regular`` (at least one, none empty)."""
    parts = [p.strip() for p in str(text).split(",")]
    if any(not p for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} must be comma-separated names without empty entries")
    return parts


def board_name(text: str) -> str:
    """One of the supported boards (boards/top.py)."""
    from ternecg.boards.top import BOARDS
    if text not in BOARDS:
        raise argparse.ArgumentTypeError(f"unknown board {text!r}; one of: {', '.join(sorted(BOARDS))}")
    return text


# ---- the shared options ----------------------------------------------------------------------

def _help(option: str, rest: str = "") -> str:
    return MEANINGS[option] + (f" {rest}" if rest else "")


def add_model(p, *, required=False, what=""):
    """``--model FILE``: a model file (default: the shipped models/default.json)."""
    p.add_argument("--model", metavar="FILE", required=required, default=None,
                   help=_help("--model", what or ("(required)" if required else "(default: models/default.json)")))


def add_models(p):
    """``--models DIR``: the folder of shipped model files (default: models/)."""
    p.add_argument("--models", metavar="DIR", default=None, help=_help("--models", "(default: models/)"))


def add_parallel(p, *, default=1, several=False):
    """``--parallel P``: the accelerator's PARALLEL (lanes); ``several``: a comma-separated list.
    Any integer parses; the hardware generator checks the range against the model and names it."""
    if several:
        p.add_argument("--parallel", metavar="P,...", type=int_list, default=default,
                       help=_help("--parallel", "settings, comma-separated (default: every setting that fits)"
                              if default is None else f"settings, comma-separated (default: {default})"))
    else:
        p.add_argument("--parallel", metavar="P", type=integer, default=default,
                       help=_help("--parallel", f"(lanes; default {default})"))


def add_board(p, *, required=True, default=None):
    """``--board NAME``: icebreaker or ulx3s."""
    p.add_argument("--board", metavar="NAME", type=board_name, required=required, default=default,
                   help=_help("--board", "icebreaker or ulx3s" + (f" (default: {default})" if default else "")))


def add_db(p):
    """``--db DIR``: where the MIT-BIH database is (default: searched, see README 'Data')."""
    p.add_argument("--db", metavar="DIR", default=None,
                   help=_help("--db", "(default: $TERNECG_MITDB, ../shared/data/mitdb or the user cache)"))


def add_out(p, default, what=""):
    """``--out DIR``: the folder this subcommand writes into (created when missing)."""
    p.add_argument("--out", metavar="DIR", default=str(default),
                   help=_help("--out", f"(default: {default})" + (f"; {what}" if what else "")))


def add_seed(p, *, default=0, several=False):
    """``--seed N``: the training seed; ``several``: a comma-separated list of seeds."""
    if several:
        p.add_argument("--seed", metavar="N,...", type=nonnegative_int_list, default=default,
                       help=MEANINGS["--seed"] + f"s, comma-separated (default: {','.join(map(str, default))})")
    else:
        p.add_argument("--seed", metavar="N", type=nonnegative_int, default=default,
                       help=_help("--seed", f"(default: {default})"))


def add_jobs(p, *, default=2):
    """``--jobs N``: worker processes."""
    p.add_argument("--jobs", metavar="N", type=positive_int, default=default,
                   help=_help("--jobs", f"(default: {default})"))


def add_limit(p, *, what="beats"):
    """``--limit N``: only the first N beats, or N of ``what`` (a quick run)."""
    p.add_argument("--limit", metavar="N", type=positive_int, default=None, help=_help("--limit", f"{what} (a quick run)"))


def add_epochs(p, *, default, what=""):
    p.add_argument("--epochs", metavar="N", type=positive_int, default=default,
                   help=_help("--epochs", what or f"(default: {default})"))


def add_baud(p, *, default):
    p.add_argument("--baud", metavar="B", type=positive_int, default=default,
                   help=_help("--baud", f"(default: {default}; must match the bitstream)"))
