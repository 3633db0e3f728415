"""Beat extraction from MIT-BIH: 240-sample windows centred on the annotated R peaks, and labels.

A window for an R peak at sample ``r`` is ``signal[r - 120 : r + 120]`` (the R peak at index 120).
Beats whose window leaves the record are dropped and counted.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError

from ternecg.paths import build_dir

from .records import RECORDS48, find_database, read_record, verify_database

WINDOW = 240
HALF = 120

#: The 15 beat annotation symbols of MIT-BIH (everything else is a non-beat annotation).
BEAT_SYMBOLS: tuple[str, ...] = ("N", "L", "R", "e", "j", "A", "a", "J", "S", "V", "E", "F", "/", "f", "Q")

#: AAMI EC57 class -> MIT-BIH symbols.
AAMI_GROUPS = {"N": "NLRej", "S": "AaJS", "V": "VE", "F": "F", "Q": "/fQ"}
#: MIT-BIH symbol -> AAMI class.
AAMI: dict[str, str] = {sym: cls for cls, syms in AAMI_GROUPS.items() for sym in syms}

BINARY_CLASSES = ("N", "abnormal")
_BINARY = {"N": 0, "S": 1, "V": 1, "F": 1, "Q": -1}

SIX_CLASSES = ("N", "V", "F", "/", "f", "other")
_SIX = {"N": 0, "V": 1, "F": 2, "/": 3, "f": 4}

CACHE_VERSION = 1
CACHE_NAME = f"beats_v{CACHE_VERSION}.npz"


def _symbols(symbols) -> np.ndarray:
    arr = np.asarray(symbols, dtype=str)
    bad = sorted(set(np.unique(arr).tolist()) - set(BEAT_SYMBOLS))
    if bad:
        raise TernEcgError(f"not MIT-BIH beat symbols: {bad}; valid beat symbols are {''.join(BEAT_SYMBOLS)}")
    return arr


def aami_class(symbols) -> np.ndarray:
    """AAMI class ('N', 'S', 'V', 'F', 'Q') of each beat symbol."""
    arr = _symbols(symbols)
    return np.array([AAMI[s] for s in arr.tolist()], dtype="<U1")


def binary_labels(symbols) -> np.ndarray:
    """0 = normal (AAMI N), 1 = abnormal (AAMI S, V, F), -1 = excluded (AAMI Q)."""
    arr = _symbols(symbols)
    return np.array([_BINARY[AAMI[s]] for s in arr.tolist()], dtype=np.int64)


def six_labels(symbols) -> np.ndarray:
    """Six-class labels of SIX_CLASSES: N=0, V=1, F=2, /=3, f=4, any other beat=5."""
    arr = _symbols(symbols)
    return np.array([_SIX.get(s, 5) for s in arr.tolist()], dtype=np.int64)


@dataclass
class Beats:
    raw: np.ndarray  # int16, (n, WINDOW), raw ADC units
    record: np.ndarray  # str, (n,)
    sample: np.ndarray  # int64, (n,), R-peak sample index in the record
    symbol: np.ndarray  # str, (n,), MIT-BIH beat symbol

    def __post_init__(self):
        self.raw = np.asarray(self.raw, dtype=np.int16).reshape(-1, WINDOW)
        self.record = np.asarray(self.record, dtype="<U3")
        self.sample = np.asarray(self.sample, dtype=np.int64)
        self.symbol = np.asarray(self.symbol, dtype="<U1")
        n = len(self.raw)
        if not (len(self.record) == len(self.sample) == len(self.symbol) == n):
            raise ValueError("Beats fields have different lengths")

    def __len__(self) -> int:
        return len(self.raw)

    def subset(self, index) -> "Beats":
        """Beats selected by a boolean mask or an integer index array."""
        return Beats(self.raw[index], self.record[index], self.sample[index], self.symbol[index])

    @staticmethod
    def concatenate(parts) -> "Beats":
        parts = list(parts)
        if not parts:
            return Beats(np.zeros((0, WINDOW), np.int16), [], np.zeros(0, np.int64), [])
        return Beats(
            np.concatenate([p.raw for p in parts]),
            np.concatenate([p.record for p in parts]),
            np.concatenate([p.sample for p in parts]),
            np.concatenate([p.symbol for p in parts]),
        )

    def save_npz(self, path, **extra) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")  # unique: parallel workers
        np.savez(tmp, raw=self.raw, record=self.record, sample=self.sample, symbol=self.symbol, **extra)
        os.replace(tmp, path)

    @classmethod
    def load_npz(cls, path) -> "Beats":
        with np.load(path, allow_pickle=False) as z:
            return cls(z["raw"], z["record"], z["sample"], z["symbol"])


def extract_record(db, name: str):
    """All beat windows of one record: ``(Beats, {"annotated", "kept", "dropped_edge"})``."""
    signal, samples, symbols, _lead = read_record(db, name)
    is_beat = np.isin(symbols, BEAT_SYMBOLS)
    samples, symbols = samples[is_beat], symbols[is_beat]
    inside = (samples - HALF >= 0) & (samples + HALF <= len(signal))
    samples, symbols = samples[inside], symbols[inside]
    idx = samples[:, None] + np.arange(-HALF, HALF)[None, :]
    beats = Beats(signal[idx], np.full(len(samples), str(name)), samples, symbols)
    stats = {"annotated": int(is_beat.sum()), "kept": int(inside.sum()), "dropped_edge": int((~inside).sum())}
    return beats, stats


def _extract_all(db: Path):
    parts, stats = [], []
    for name in RECORDS48:
        b, s = extract_record(db, name)
        parts.append(b)
        stats.append([s["annotated"], s["kept"], s["dropped_edge"]])
    return Beats.concatenate(parts), np.asarray(stats, dtype=np.int64)


def _load_all(db: Path, cache_dir: Path):
    """Whole 48-record extraction and per-record stats, from the npz cache when it matches ``db``."""
    cache = Path(cache_dir) / CACHE_NAME
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                if str(z["db"]) == str(db) and tuple(z["records"].tolist()) == RECORDS48:
                    beats = Beats(z["raw"], z["record"], z["sample"], z["symbol"])
                    return beats, z["stats"].copy()
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
            pass  # unreadable, truncated or stale cache: rebuild it
    verify_database(db)
    beats, stats = _extract_all(db)
    beats.save_npz(cache, db=np.array(str(db)), records=np.array(RECORDS48), stats=stats)
    return beats, stats


def load_beats(db=None, records=RECORDS48, cache_dir=None, return_stats: bool = False):
    """Beats of ``records`` (concatenated in that order), using the cache ``build/cache/beats_v1.npz``.

    With ``return_stats=True`` also returns ``{record: {"annotated", "kept", "dropped_edge"}}``.
    """
    db = find_database(db)
    cache_dir = build_dir("cache") if cache_dir is None else Path(cache_dir)
    records = tuple(str(r) for r in records)
    unknown = [r for r in records if r not in RECORDS48]
    if unknown:
        raise TernEcgError(f"unknown MIT-BIH record(s) {unknown}; valid records are 100 ... 234 (see RECORDS48)")
    beats, stats = _load_all(db, cache_dir)
    if records != RECORDS48:
        beats = Beats.concatenate(beats.subset(beats.record == r) for r in records)
    if not return_stats:
        return beats
    table = {
        name: dict(zip(("annotated", "kept", "dropped_edge"), map(int, row)))
        for name, row in zip(RECORDS48, stats)
        if name in records
    }
    return beats, table
