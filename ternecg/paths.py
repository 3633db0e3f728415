"""Where ternecg finds its data and writes its outputs: the one module that knows the layout.

Read-only data ships with the package, so that a plain (non-editable) ``pip install .`` works from
any directory:

- :func:`models_dir`   the shipped model files (``models/`` of a checkout, ``ternecg/models`` installed);
- :func:`fixtures_dir` the small derived fixtures (``fixtures/``, ``ternecg/fixtures`` installed);
- :func:`configs_dir`  the topology configs (``golden/configs``);

outputs go under :func:`build_dir`: ``$TERNECG_BUILD`` if set, else ``build/`` in the current
directory (relative, because the YoWASP tools cannot see absolute paths under ``/tmp``).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
#: the source checkout holding this package (None for an installed copy)
CHECKOUT = PACKAGE.parent if (PACKAGE.parent / "pyproject.toml").is_file() and (PACKAGE.parent / "golden").is_dir() else None
BUILD_ENV = "TERNECG_BUILD"


def _data(name: str) -> Path:
    if CHECKOUT is not None and (CHECKOUT / name).is_dir():
        return CHECKOUT / name
    return PACKAGE / name


def models_dir() -> Path:
    return _data("models")


def fixtures_dir() -> Path:
    return _data("fixtures")


def configs_dir() -> Path:
    if CHECKOUT is not None:
        return CHECKOUT / "golden" / "configs"
    return PACKAGE / "golden" / "configs"


def results_dir() -> Path:
    """The committed experiment results (``results/``; a checkout only, else ``build/results``)."""
    return CHECKOUT / "results" if CHECKOUT is not None else build_dir() / "results"


def build_dir(*parts: str) -> Path:
    """``$TERNECG_BUILD`` or ``./build``, joined with ``parts`` (not created)."""
    root = Path(os.environ.get(BUILD_ENV) or "build")
    return root.joinpath(*parts)


def relative(path) -> str:
    """``path`` relative to the current directory when it is below it (for reports), else as is."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
