"""Beats found by the R-peak detector, labelled by the reference: the four-class models' data.

For every MIT-BIH record the detector (golden/qrs.py) runs on the whole raw MLII lead; each
detection whose 240-sample window lies inside the record (a beat of the monitor,
:func:`ternecg.golden.monitor.inside`) is matched to the reference beats with the EC57 matcher
(golden/ec57.py, 150 ms, nearest first) and takes the symbol of its matched reference beat
(``""`` when it matched none: a false detection, never training data). The RR codes of a
detection are those the monitor computes: over all of the record's classified detections, false
ones included (:func:`ternecg.golden.monitor.codes`).

Cached in ``build/cache/detected_v1.npz`` (the records' raw signals, the detections, the
reference beats), so that training can cut windows anywhere (:class:`Windows`: jitter).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError
from ternecg.paths import build_dir

from . import ec57, monitor, qrs
from .beats import AAMI
from .records import RECORDS48, find_database, load_record, verify_database

CACHE_VERSION = 1
CACHE_NAME = f"detected_v{CACHE_VERSION}.npz"
#: the four-class task's classes and the label of an AAMI class (Q: -1, excluded)
AAMI4 = ("N", "S", "V", "F")
_AAMI4 = {"N": 0, "S": 1, "V": 2, "F": 3, "Q": -1}
FS = 360


def aami4_labels(symbols) -> np.ndarray:
    """N=0, S=1, V=2, F=3 of MIT-BIH beat symbols; -1 for AAMI Q and for ``""`` (no reference)."""
    return np.array([_AAMI4[AAMI[s]] if s else -1 for s in np.asarray(symbols, dtype=str).tolist()],
                    dtype=np.int64)


@dataclass
class Record:
    """One record: its signal, its reference beats and the detector's classified beats."""
    name: str
    signal: np.ndarray      # int16 raw MLII
    ref: np.ndarray         # int64 reference beat samples (every beat annotation, wfdb beat symbols)
    ref_symbol: np.ndarray  # str
    det: np.ndarray         # int64 detected R peaks whose window is inside the record
    det_symbol: np.ndarray  # str: symbol of the matched reference beat, "" if none
    det_ref: np.ndarray     # int64: the matched reference beat's sample, -1 if none


def detect_record(name, signal, ref, ref_symbol) -> Record:
    """The detector on one record and the EC57 labelling of its classified detections."""
    signal = np.asarray(signal)
    det = monitor.beat_peaks(signal, FS)
    m = ec57.match(ref, det, FS)
    sym = np.full(len(det), "", dtype="<U1")
    at = np.full(len(det), -1, dtype=np.int64)
    sym[m.test_index] = np.asarray(ref_symbol)[m.ref_index]
    at[m.test_index] = np.asarray(ref)[m.ref_index]
    return Record(str(name), signal.astype(np.int16), np.asarray(ref, np.int64),
                  np.asarray(ref_symbol, dtype="<U1"), det, sym, at)


def _build(db: Path) -> dict:
    out = {}
    for name in RECORDS48:
        rec = load_record(db, name)
        beat = ec57.beat_mask(rec.symbols)
        out[name] = detect_record(name, qrs.check_record(rec.signal), rec.samples[beat], rec.symbols[beat])
    return out


def _save(records: dict, path: Path, db) -> None:
    names = list(records)
    arrays = {"db": np.array(str(db)), "records": np.array(names)}
    for k in ("signal", "ref", "ref_symbol", "det", "det_symbol", "det_ref"):
        parts = [getattr(records[n], k) for n in names]
        arrays[k] = np.concatenate(parts)
        arrays[f"{k}_len"] = np.array([len(p) for p in parts], dtype=np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _load(path: Path, db) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["db"]) != str(db) or tuple(z["records"].tolist()) != RECORDS48:
                return None
            cols = {}
            for k in ("signal", "ref", "ref_symbol", "det", "det_symbol", "det_ref"):
                cols[k] = np.split(z[k], np.cumsum(z[f"{k}_len"])[:-1])
    except (OSError, KeyError, ValueError):
        return None
    return {n: Record(n, *(cols[k][i] for k in ("signal", "ref", "ref_symbol", "det", "det_symbol", "det_ref")))
            for i, n in enumerate(RECORDS48)}


def load(db=None, cache_dir=None) -> dict:
    """``{record: Record}`` for the 48 records, from the cache when it matches ``db``."""
    db = find_database(db)
    path = (build_dir("cache") if cache_dir is None else Path(cache_dir)) / CACHE_NAME
    if path.is_file():
        got = _load(path, db)
        if got is not None:
            return got
    verify_database(db)
    records = _build(db)
    _save(records, path, db)
    return records


# ------------------------------------------------------------------------------------------------
@dataclass
class Set:
    """Classified detections of several records, concatenated (record order as given).

    ``pos``: each beat's R peak as an index into ``signal`` (the records' signals concatenated);
    ``lo``/``hi``: the smallest and largest such index whose window lies inside its record."""
    records: tuple
    signal: np.ndarray   # int16, the records' signals concatenated
    record: np.ndarray   # str (n,)
    sample: np.ndarray   # int64 (n,) detected R peak in its record
    symbol: np.ndarray   # str (n,) matched reference symbol, "" for a false detection
    ref: np.ndarray      # int64 (n,) matched reference sample, -1
    pos: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    def __len__(self):
        return len(self.sample)

    @property
    def labels(self) -> np.ndarray:
        return aami4_labels(self.symbol)

    @property
    def offsets(self) -> np.ndarray:
        """Detected minus reference sample of the matched beats."""
        m = self.ref >= 0
        return self.sample[m] - self.ref[m]

    def raw(self, index=None, shift=None) -> np.ndarray:
        """(n, 240) int64 raw windows of beats ``index`` (all), moved by ``shift`` samples
        (clamped so that every window stays inside its record)."""
        index = np.arange(len(self)) if index is None else np.asarray(index)
        p = self.pos[index] + (0 if shift is None else np.asarray(shift, dtype=np.int64))
        p = np.clip(p, self.lo[index], self.hi[index])
        return self.signal[p[:, None] + np.arange(-monitor.HALF, monitor.HALF)[None, :]].astype(np.int64)

    def codes(self, cfg) -> np.ndarray:
        """(n, F) RR codes of every beat, as the monitor computes them (per record, over its
        classified detections; the template code, config rr_template, over their windows)."""
        out = np.zeros((len(self), cfg.rr_features), dtype=np.int64)
        for rec in self.records:
            i = np.flatnonzero(self.record == rec)
            out[i] = monitor.codes(self.sample[i], cfg, self.raw(i) if cfg.rr_template else None)
        return out

    def subset(self, index) -> "Set":
        index = np.asarray(index)
        return Set(self.records, self.signal, self.record[index], self.sample[index], self.symbol[index],
                   self.ref[index], self.pos[index], self.lo[index], self.hi[index])


def make_set(records: dict, names) -> Set:
    """The classified detections of records ``names`` (every one, false detections included)."""
    names = tuple(str(n) for n in names)
    unknown = [n for n in names if n not in records]
    if unknown:
        raise TernEcgError(f"unknown MIT-BIH record(s) {unknown}")
    sig, rec, smp, sym, ref, pos, lo, hi = [], [], [], [], [], [], [], []
    off = 0
    for n in names:
        r = records[n]
        sig.append(r.signal)
        k = len(r.det)
        rec.append(np.full(k, n, dtype="<U3"))
        smp.append(r.det)
        sym.append(r.det_symbol)
        ref.append(r.det_ref)
        pos.append(r.det + off)
        lo.append(np.full(k, off + monitor.HALF, np.int64))
        hi.append(np.full(k, off + len(r.signal) - monitor.HALF, np.int64))
        off += len(r.signal)
    cat = lambda parts, dt: np.concatenate(parts).astype(dt) if parts else np.zeros(0, dt)  # noqa: E731
    return Set(names, cat(sig, np.int16), cat(rec, "<U3"), cat(smp, np.int64), cat(sym, "<U1"),
               cat(ref, np.int64), cat(pos, np.int64), cat(lo, np.int64), cat(hi, np.int64))
