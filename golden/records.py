"""Locating, verifying and reading the MIT-BIH Arrhythmia Database (WFDB format).

The database itself is never copied into the repository. It is looked up, in order, at an
explicit path, at ``$TERNECG_MITDB``, at ``<repo>/../shared/data/mitdb``, and finally in a user
cache (``$XDG_CACHE_HOME/ternecg/mitdb``) which is filled from PhysioNet on first use.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError
from ternecg.paths import CHECKOUT

ENV_VAR = "TERNECG_MITDB"

RECORDS48: tuple[str, ...] = (
    "100", "101", "102", "103", "104", "105", "106", "107", "108", "109",
    "111", "112", "113", "114", "115", "116", "117", "118", "119", "121",
    "122", "123", "124", "200", "201", "202", "203", "205", "207", "208",
    "209", "210", "212", "213", "214", "215", "217", "219", "220", "221",
    "222", "223", "228", "230", "231", "232", "233", "234",
)

_REQUIRED = {f"{r}.{ext}" for r in RECORDS48 for ext in ("hea", "dat", "atr")}

REPO_ROOT = CHECKOUT or Path.cwd()   # where ../shared/data/mitdb is looked for


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ternecg" / "mitdb"


def _check_folder(path: Path, origin: str) -> Path:
    if not path.is_dir():
        raise TernEcgError(
            f"MIT-BIH database folder {str(path)!r} ({origin}) does not exist; "
            f"point it at a folder holding the WFDB files 100.hea/100.dat/100.atr ... 234.atr"
        )
    if not any(path.glob("*.hea")):
        raise TernEcgError(
            f"MIT-BIH database folder {str(path)!r} ({origin}) holds no .hea files; "
            f"point it at a folder holding the WFDB files 100.hea/100.dat/100.atr ... 234.atr"
        )
    return path.resolve()


def find_database(path: str | os.PathLike | None = None) -> Path:
    """Return the folder holding the MIT-BIH database, downloading it to the user cache if needed."""
    if path is not None:
        return _check_folder(Path(path).expanduser(), "given path")
    env = os.environ.get(ENV_VAR)
    if env:
        return _check_folder(Path(env).expanduser(), f"from ${ENV_VAR}")
    shared = REPO_ROOT.parent / "shared" / "data" / "mitdb"
    if shared.is_dir():
        return _check_folder(shared, "shared data folder next to the repository")
    cache = _cache_root()
    if not all((cache / f"{r}.{ext}").is_file() for r in RECORDS48 for ext in ("hea", "dat", "atr")):
        try:
            import wfdb

            cache.mkdir(parents=True, exist_ok=True)
            wfdb.dl_database("mitdb", str(cache))
        except Exception as exc:  # network, permissions, PhysioNet down, ...
            raise TernEcgError(
                f"could not download the MIT-BIH database to {str(cache)!r} ({exc}); "
                f"download it from https://physionet.org/content/mitdb/ yourself and put the files "
                f"there, or set ${ENV_VAR} to the folder holding them"
            ) from exc
    return _check_folder(cache, "user cache")


_VERIFIED: dict[tuple[str, int], int] = {}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_database(path: str | os.PathLike) -> int:
    """Check the files listed in ``SHA256SUMS.txt`` (if present); return how many were checked.

    Files listed but absent are skipped, except the .hea/.dat/.atr files of the 48 records.
    The result is cached within the process per (folder, newest mtime of its files).
    """
    folder = Path(path).resolve()
    sums = folder / "SHA256SUMS.txt"
    if not sums.is_file():
        return 0
    key = (str(folder), max(f.stat().st_mtime_ns for f in folder.iterdir()))
    if key in _VERIFIED:
        return _VERIFIED[key]
    checked = 0
    for lineno, line in enumerate(sums.read_text().splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise TernEcgError(f"{str(sums)!r} line {lineno} is not '<sha256> <file>': {line!r}")
        digest, name = parts[0].lower(), parts[1].lstrip("*").strip()
        file = folder / name
        if not file.is_file():
            if name in _REQUIRED:
                raise TernEcgError(
                    f"MIT-BIH file {name!r} is missing from {str(folder)!r}; "
                    f"re-download the database (https://physionet.org/content/mitdb/)"
                )
            continue
        if _sha256(file) != digest:
            raise TernEcgError(
                f"MIT-BIH file {name!r} in {str(folder)!r} does not match its SHA-256 in "
                f"SHA256SUMS.txt (corrupt or modified); re-download it from PhysioNet"
            )
        checked += 1
    _VERIFIED[key] = checked
    return checked


def read_record(db: str | os.PathLike, name: str):
    """Read one record: ``(signal, ann_samples, ann_symbols, lead)``.

    ``signal`` is the MLII lead as int16 raw ADC units. Records 102 and 104 have no MLII; for
    them the first channel is returned and ``lead`` names it (callers use them only in the
    six-class task).
    """
    name = str(name)
    if name not in RECORDS48:
        raise TernEcgError(f"unknown MIT-BIH record {name!r}; valid records are 100 ... 234 (see RECORDS48)")
    base = str(Path(db) / name)
    try:
        with warnings.catch_warnings():  # wfdb 4.3 trips pandas deprecation warnings
            warnings.filterwarnings("ignore", message=".*inplace keyword.*")
            import wfdb

            rec = wfdb.rdrecord(base, physical=False)
            ann = wfdb.rdann(base, "atr")
    except FileNotFoundError as exc:
        raise TernEcgError(
            f"MIT-BIH record {name!r} is missing from {str(db)!r} ({exc}); re-download the database"
        ) from exc
    names = list(rec.sig_name)
    ch = names.index("MLII") if "MLII" in names else 0
    signal = np.asarray(rec.d_signal[:, ch], dtype=np.int16)
    samples = np.asarray(ann.sample, dtype=np.int64)
    symbols = np.asarray(ann.symbol, dtype=str)
    return signal, samples, symbols, names[ch]
