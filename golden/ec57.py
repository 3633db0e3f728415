"""Beat-by-beat matching of detected R peaks to reference beats (ANSI/AAMI EC57 style, as bxb).

Rules (all in samples, integers):

* **Window.** A detection ``t`` can match a reference beat ``r`` when ``|t - r| <= W`` with
  ``W = match_window(fs) = (150 * fs + 500) // 1000`` (150 ms rounded to the nearest sample: 54 at
  360 Hz). The window is **inclusive**: a detection exactly 54 samples away matches, 55 does not.
  (wfdb's ``compare_annotations(ref, test, window_width)`` matches on ``|t - r| < window_width``,
  so ``window_width = W + 1`` is the same window.)
* **Pairing: nearest first.** Every pair within the window is a candidate; candidates are taken in
  increasing ``|t - r|`` (ties: the earlier reference, then the earlier detection) and a pair is
  kept when neither its reference nor its detection is already paired. So each reference is
  matched at most once and each detection at most once; a double detection leaves one FP, a
  detection between two references goes to the nearer one (the earlier on a tie).
  bxb and wfdb walk the references in time order instead; the two rules can differ only when
  three or more annotations compete inside one window. With this project's detector the counts
  equal wfdb's ``compare_annotations`` on all 48 whole MIT-BIH records (checked once; the tests
  check the excerpts, three hard records and random streams).
* **Counts.** TP = pairs, FN = unpaired references, FP = unpaired detections;
  Se = TP / (TP + FN), +P = TP / (TP + FP) (1.0 when the denominator is 0).
* **Which annotations are beats.** :data:`BEAT_SYMBOLS` is wfdb's beat symbol set
  (``N L R B A a J S V r F e j n E / f Q ?``); everything else (rhythm ``+``, noise ``~``, ``|``,
  non-conducted P ``x``, comments ``"``, the ventricular flutter wave ``!`` and the VF episode
  markers ``[`` ``]``) is not a beat, as in bxb's table. bxb also leaves ventricular
  flutter/fibrillation episodes (from ``[`` to ``]``) out of the beat-by-beat comparison:
  :func:`vf_episodes` and the ``exclude`` argument of :func:`match` do that, for the secondary
  figure only (the primary figure is the whole record).

``match`` returns the pairs as index arrays, so a caller can attach classes to them later (a
confusion matrix with a missed-beat column and a false-detection row).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ternecg.errors import TernEcgError

#: wfdb's beat annotation symbols (``wfdb.io.annotation.BEAT_SYMBOLS`` minus nothing: same set).
BEAT_SYMBOLS: tuple[str, ...] = tuple("NLRBAaJSVrFejnE/fQ?")

WINDOW_MS = 150


def match_window(fs: int) -> int:
    """The matching window in samples: 150 ms rounded half up (54 at 360 Hz)."""
    if not isinstance(fs, (int, np.integer)) or fs <= 0:
        raise TernEcgError(f"sampling rate must be a positive integer (Hz), got {fs!r}")
    return (WINDOW_MS * int(fs) + 500) // 1000


def beat_mask(symbols) -> np.ndarray:
    """True where an annotation symbol is a beat (:data:`BEAT_SYMBOLS`)."""
    return np.isin(np.asarray(symbols, dtype=str), BEAT_SYMBOLS)


def vf_episodes(samples, symbols) -> np.ndarray:
    """(k, 2) int64 ``[start, end]`` sample ranges of the VF/VFL episodes, from ``[`` to ``]``
    (an episode still open at the end of the annotations runs to the end: ``end = 2**62``)."""
    out, start = [], None
    for s, sym in zip(np.asarray(samples, dtype=np.int64).tolist(), np.asarray(symbols, dtype=str).tolist()):
        if sym == "[" and start is None:
            start = s
        elif sym == "]" and start is not None:
            out.append((start, s))
            start = None
    if start is not None:
        out.append((start, 2 ** 62))
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


def in_ranges(samples, ranges) -> np.ndarray:
    """True where a sample lies in one of the inclusive ``[start, end]`` ranges."""
    s = np.asarray(samples, dtype=np.int64)
    m = np.zeros(len(s), dtype=bool)
    for a, b in np.asarray(ranges, dtype=np.int64).reshape(-1, 2):
        m |= (s >= a) & (s <= b)
    return m


@dataclass
class Match:
    """Result of :func:`match`: counts and the pairs (indices into the given arrays)."""
    ref_index: np.ndarray  # int64 (tp,), index into ref of each pair, increasing
    test_index: np.ndarray  # int64 (tp,), index into test of the same pair
    fn_index: np.ndarray  # int64, unpaired (and not excluded) references
    fp_index: np.ndarray  # int64, unpaired (and not excluded) detections
    offsets: np.ndarray = field(init=False)  # test - ref sample of each pair
    ref: np.ndarray = field(repr=False, default=None)
    test: np.ndarray = field(repr=False, default=None)

    def __post_init__(self):
        self.offsets = (self.test[self.test_index] - self.ref[self.ref_index]) if self.ref is not None \
            else np.zeros(0, np.int64)

    @property
    def tp(self) -> int:
        return int(len(self.ref_index))

    @property
    def fn(self) -> int:
        return int(len(self.fn_index))

    @property
    def fp(self) -> int:
        return int(len(self.fp_index))

    @property
    def se(self) -> float:
        return rate(self.tp, self.fn)

    @property
    def ppv(self) -> float:
        return rate(self.tp, self.fp)

    def counts(self) -> dict:
        return {"tp": self.tp, "fn": self.fn, "fp": self.fp, "se": self.se, "ppv": self.ppv}


def rate(tp: int, miss: int) -> float:
    """tp / (tp + miss), 1.0 when both are 0."""
    return float(tp) / (tp + miss) if tp + miss else 1.0


def _sorted_samples(x, what) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise TernEcgError(f"{what} sample indices must be a 1-D array, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        if not np.all(np.asarray(a, dtype=float) == np.round(a)):
            raise TernEcgError(f"{what} sample indices must be integers")
    a = a.astype(np.int64)
    if np.any(np.diff(a) < 0):
        raise TernEcgError(f"{what} sample indices must be sorted in increasing order")
    return a


def match(ref, test, fs: int = 360, window: int | None = None, exclude=None) -> Match:
    """Pair detections ``test`` with reference beats ``ref`` (sorted sample indices), nearest first.

    ``window`` (samples, inclusive) defaults to :func:`match_window` of ``fs``. ``exclude``: optional
    ``(k, 2)`` inclusive sample ranges (e.g. :func:`vf_episodes`); references and detections
    inside them are left out of all counts (pairs are formed among the rest only).
    """
    ref = _sorted_samples(ref, "reference")
    test = _sorted_samples(test, "detected")
    w = match_window(fs) if window is None else int(window)
    if w < 0:
        raise TernEcgError(f"matching window must be >= 0 samples, got {w}")
    keep_r = np.ones(len(ref), bool)
    keep_t = np.ones(len(test), bool)
    if exclude is not None and len(exclude):
        keep_r = ~in_ranges(ref, exclude)
        keep_t = ~in_ranges(test, exclude)
    ri_all = np.flatnonzero(keep_r)
    ti_all = np.flatnonzero(keep_t)
    r, t = ref[ri_all], test[ti_all]
    # every (reference, detection) pair within the window
    lo = np.searchsorted(t, r - w, side="left")
    hi = np.searchsorted(t, r + w, side="right")
    cnt = hi - lo
    pr = np.repeat(np.arange(len(r)), cnt)
    pt = (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(lo, cnt)).astype(np.int64)
    d = np.abs(t[pt] - r[pr])
    order = np.lexsort((pt, pr, d))  # nearest first; ties: earlier reference, then earlier detection
    used_r = np.zeros(len(r), bool)
    used_t = np.zeros(len(t), bool)
    pairs = []
    for k in order.tolist():
        a, b = pr[k], pt[k]
        if not used_r[a] and not used_t[b]:
            used_r[a] = used_t[b] = True
            pairs.append((a, b))
    pairs.sort()
    pa = np.array([p[0] for p in pairs], dtype=np.int64)
    pb = np.array([p[1] for p in pairs], dtype=np.int64)
    return Match(ref_index=ri_all[pa], test_index=ti_all[pb], fn_index=ri_all[~used_r],
                 fp_index=ti_all[~used_t], ref=ref, test=test)
