"""Locating, verifying and reading the MIT-BIH Arrhythmia Database (WFDB format).

The database itself is never copied into the repository. It is looked up, in order, at an
explicit path, at ``$TERNECG_MITDB``, at ``<repo>/../shared/data/mitdb``, and finally in a user
cache (``$XDG_CACHE_HOME/ternecg/mitdb``) which is filled from PhysioNet on first use.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
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


#: annotations (beat and non-beat) in each record's .atr of PhysioNet's mitdb 1.0.0
ANNOTATIONS48: dict[str, int] = {
    "100": 2274, "101": 1874, "102": 2192, "103": 2091, "104": 2311, "105": 2691, "106": 2098, "107": 2140,
    "108": 1824, "109": 2535, "111": 2133, "112": 2550, "113": 1796, "114": 1890, "115": 1962, "116": 2421,
    "117": 1539, "118": 2301, "119": 2094, "121": 1876, "122": 2479, "123": 1519, "124": 1634, "200": 2792,
    "201": 2039, "202": 2146, "203": 3108, "205": 2672, "207": 2385, "208": 3040, "209": 3052, "210": 2685,
    "212": 2763, "213": 3294, "214": 2297, "215": 3400, "217": 2280, "219": 2312, "220": 2069, "221": 2462,
    "222": 2634, "223": 2643, "228": 2141, "230": 2466, "231": 2011, "232": 1816, "233": 3152, "234": 2764,
}
FS = 360                    #: MIT-BIH sampling rate (Hz)
SIG_LEN = 650000            #: samples per MIT-BIH record (30:05 min)
#: bytes per sample of the WFDB signal formats the size check knows (others are checked by reading)
_FORMAT_BYTES = {"212": 1.5, "16": 2, "61": 2, "80": 1, "8": 1, "160": 2}
_REDOWNLOAD = "re-download it from PhysioNet (https://physionet.org/content/mitdb/1.0.0/)"


@dataclass(frozen=True)
class Record:
    """One MIT-BIH record as read (and checked) by :func:`load_record`.

    Members
    -------
    name : str            record name, e.g. "100"
    signal : ndarray      int16 raw ADC codes of the lead used (MLII; 102 and 104: the first signal)
    samples : ndarray     int64 annotation samples (every annotation, beat or not), ascending
    symbols : ndarray     str annotation symbols
    lead : str            the signal's name ("MLII", ...)
    fs : int              sampling rate (Hz)
    adc_gain : float      ADC units per mV of that signal
    baseline : int        ADC code of 0 mV
    """
    name: str
    signal: np.ndarray
    samples: np.ndarray
    symbols: np.ndarray
    lead: str
    fs: int
    adc_gain: float
    baseline: int


class DamagedRecord(TernEcgError):
    """A record file that is missing, truncated or not what its header says."""


def _damaged(db, name, file, problem, todo=None):
    raise DamagedRecord(f"MIT-BIH record {name!r} cannot be read from {str(db)!r}: {file} {problem}; "
                        f"{todo or _REDOWNLOAD}")


def _check_annotation_file(db, name, path: Path) -> None:
    """Walk the MIT-format annotation file's 16-bit words: it must end exactly with its end-of-file
    word (a truncated file does not; wfdb.rdann would silently return the annotations before the
    cut)."""
    data = path.read_bytes()
    if len(data) % 2:
        _damaged(db, name, path.name, f"is truncated ({len(data)} bytes: an annotation file is a sequence of "
                                      f"16-bit words)")
    words = np.frombuffer(data, dtype="<u2")
    i, n = 0, len(words)
    while i < n:
        code, value = int(words[i]) >> 10, int(words[i]) & 0x3FF
        if code == 0 and value == 0:                   # end of file
            if i != n - 1:
                _damaged(db, name, path.name, f"has {2 * (n - 1 - i)} bytes after its end-of-file marker")
            return
        i += 1 + (2 if code == 59 else (value + 1) // 2 if code == 63 else 0)   # SKIP, AUX
    _damaged(db, name, path.name, f"is truncated ({len(data)} bytes, no end-of-file marker)")


def load_record(db: str | os.PathLike, name: str) -> Record:
    """Read one record and check what was read: the three files exist, the header is a valid WFDB
    header of a 360 Hz record, the .dat holds exactly the samples the header announces, the .atr
    ends with its end-of-file marker and (for PhysioNet's mitdb) holds the record's full
    annotation count, the annotations are ascending and inside the signal. Every problem is one
    :class:`DamagedRecord` error naming the file and what to do, never a traceback or a silently
    short record."""
    name = str(name)
    if name not in RECORDS48:
        raise TernEcgError(f"unknown MIT-BIH record {name!r}; valid records are 100 ... 234 (see RECORDS48)")
    folder = Path(db)
    base = str(folder / name)
    for ext in ("hea", "dat", "atr"):
        if not (folder / f"{name}.{ext}").is_file():
            _damaged(db, name, f"{name}.{ext}", "is missing", "re-download the database "
                     "(https://physionet.org/content/mitdb/1.0.0/)")
    with warnings.catch_warnings():  # wfdb 4.3 trips pandas deprecation warnings
        warnings.filterwarnings("ignore")
        import wfdb

        try:
            head = wfdb.rdheader(base)
        except Exception as exc:       # wfdb raises many kinds (HeaderSyntaxError, IndexError, ...)
            _damaged(db, name, f"{name}.hea", f"is not a valid WFDB header ({type(exc).__name__}: {exc})")
        if head.fs != FS or not head.n_sig or not head.sig_len or head.sig_len <= 0:
            _damaged(db, name, f"{name}.hea", f"describes {head.n_sig} signal(s) of {head.sig_len} samples at "
                                            f"{head.fs} Hz, not a MIT-BIH record ({FS} Hz)")
        described = [len(getattr(head, k) or []) for k in ("file_name", "fmt", "sig_name", "adc_gain", "baseline")]
        if any(n != head.n_sig for n in described):
            _damaged(db, name, f"{name}.hea", f"announces {head.n_sig} signals but describes {min(described)} "
                                            f"(a signal line is missing or cut)")
        if set(head.file_name) != {f"{name}.dat"}:
            _damaged(db, name, f"{name}.hea", f"names the signal file(s) {sorted(set(head.file_name))}, "
                                            f"not {name}.dat")
        fmts = set(head.fmt)
        dat = folder / f"{name}.dat"
        if len(fmts) == 1 and (fmt := fmts.pop()) in _FORMAT_BYTES and not any(head.byte_offset or []):
            want = int(np.ceil(head.sig_len * head.n_sig * _FORMAT_BYTES[fmt]))
            have = dat.stat().st_size
            if have < want:
                _damaged(db, name, dat.name, f"is truncated: {have:,} of the {want:,} bytes its header announces "
                                           f"({head.sig_len} samples x {head.n_sig} signals, format {fmt})")
            if have > want:
                _damaged(db, name, dat.name, f"holds {have:,} bytes but its header {name}.hea announces {want:,} "
                                           f"({head.sig_len} samples x {head.n_sig} signals, format {fmt})")
        try:
            rec = wfdb.rdrecord(base, physical=False)
        except Exception as exc:
            _damaged(db, name, dat.name, f"cannot be decoded ({type(exc).__name__}: {exc})")
        if rec.d_signal is None or rec.d_signal.shape != (head.sig_len, head.n_sig):
            _damaged(db, name, dat.name, f"gave {None if rec.d_signal is None else rec.d_signal.shape} samples, "
                                       f"its header announces {(head.sig_len, head.n_sig)}")
        atr = folder / f"{name}.atr"
        _check_annotation_file(db, name, atr)
        try:
            ann = wfdb.rdann(base, "atr")
        except Exception as exc:
            _damaged(db, name, atr.name, f"cannot be decoded ({type(exc).__name__}: {exc})")
    samples = np.asarray(ann.sample, dtype=np.int64)
    symbols = np.asarray(ann.symbol, dtype=str)
    if len(samples) == 0:
        _damaged(db, name, atr.name, "holds no annotations")
    expected = ANNOTATIONS48[name] if head.sig_len == SIG_LEN else None
    if expected is not None and len(samples) != expected:
        _damaged(db, name, atr.name, f"holds {len(samples)} annotations; record {name} of MIT-BIH (PhysioNet "
                                   f"mitdb 1.0.0) has {expected}")
    if bool((np.diff(samples) < 0).any()) or samples[0] < 0 or samples[-1] >= head.sig_len:
        _damaged(db, name, atr.name, f"has annotations out of order or outside the signal (0..{head.sig_len - 1})")
    names = list(rec.sig_name)
    ch = names.index("MLII") if "MLII" in names else 0
    return Record(name, np.asarray(rec.d_signal[:, ch], dtype=np.int16), samples, symbols, names[ch],
                  int(rec.fs), float(rec.adc_gain[ch]), int(rec.baseline[ch]))


def read_record(db: str | os.PathLike, name: str):
    """Read one record: ``(signal, ann_samples, ann_symbols, lead)`` (:func:`load_record`, checked).

    ``signal`` is the MLII lead as int16 raw ADC units. Records 102 and 104 have no MLII; for
    them the first channel is returned and ``lead`` names it (callers use them only in the
    six-class task).
    """
    r = load_record(db, name)
    return r.signal, r.samples, r.symbols, r.lead
