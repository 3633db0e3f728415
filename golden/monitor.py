"""The software monitor: raw samples in, labelled beats out (docs/arithmetic.md, section 10).

    raw MLII samples -> R-peak detector (golden/qrs.py) -> 240-sample windows at the detected peaks
    -> RR codes between consecutive detections (golden/spec/rr.py) -> integer model (golden/integer_ref.py)

Two implementations that give exactly the same beats:

* :func:`run` — a whole record at once (the detector vectorised, the model in batches): what
  ``make monitor-eval`` and ``make annotate`` use. ``run(model, signal) -> (peaks, classes, logits)``;
  with ``peaks=`` it runs the same chain on given R peaks (the reference annotations).
* :class:`MonitorStream` — one sample at a time, in the order the hardware works: a ring buffer
  of :data:`RING` samples, a beat's window taken when its last sample arrives, its class decided
  when the next detection is reported (the post interval) or at the end-of-record marker.

No arithmetic of its own: the detector, the RR codes and the model are called, never copied.
Torch is loaded only by the integer model (golden/integer_ref.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ternecg.errors import TernEcgError

from . import qrs
from .spec.rr import Template, irregular_codes, record_codes, template_codes

#: the beat window: ``signal[r - HALF : r + HALF]`` for an R peak at ``r`` (golden/beats.py)
WINDOW = 240
HALF = WINDOW // 2
#: the hardware's sample ring buffer (docs/arithmetic.md 10.4): the latest detection plus its window
RING = 2048
#: the models' sampling rate: their windows are 240 samples at 360 Hz
FS = 360


def check_fs(fs) -> int:
    """``fs`` if it is the models' rate, else one clear error."""
    if fs != FS:
        raise TernEcgError(f"sampling rate {fs!r} Hz: the monitor's models are trained on {WINDOW}-sample "
                           f"windows at {FS} Hz; resample the signal to {FS} Hz")
    return FS


class Beats(NamedTuple):
    """The monitor's output for one record, in output order (increasing R-peak sample)."""
    peaks: np.ndarray    # int64 (n,): R-peak sample of each classified beat
    classes: np.ndarray  # int64 (n,): class index (the model's classes, argmax, ties to the lowest)
    logits: np.ndarray   # int64 (n, classes): the logits, RR terms included


def inside(peaks, n_samples: int) -> np.ndarray:
    """True for the R peaks whose window ``[r - HALF, r + HALF)`` lies inside a record of
    ``n_samples`` samples: the beats the monitor classifies."""
    r = np.asarray(peaks, dtype=np.int64)
    return (r - HALF >= 0) & (r + HALF <= int(n_samples))


def windows(signal, peaks) -> np.ndarray:
    """(n, WINDOW) int64 raw windows ``signal[r - HALF : r + HALF]`` (every peak must be inside)."""
    x = np.asarray(signal)
    r = np.asarray(peaks, dtype=np.int64)
    if not np.all(inside(r, len(x))):
        raise TernEcgError(f"R peak(s) {r[~inside(r, len(x))][:3].tolist()} have no whole "
                           f"{WINDOW}-sample window in a record of {len(x)} samples")
    return x[r[:, None] + np.arange(-HALF, HALF)[None, :]].astype(np.int64)


def _interval_codes(r, cfg) -> np.ndarray:
    """(n, 3) interval codes of peaks ``r`` (n >= 1), then the irregularity code
    (``cfg.rr_irregular``; a lone beat's is 0)."""
    n = len(r)
    r = r if n > 1 else np.array([0, 1])
    c = record_codes(r, cfg.rr_local, cfg.rr_bits)
    if cfg.rr_irregular:
        c = np.concatenate([c, irregular_codes(r, cfg.rr_local, cfg.rr_bits)[:, None]], 1)
    return c[:n]


def codes(peaks, cfg, windows_=None) -> np.ndarray | None:
    """(n, F) RR codes of a record's classified R peaks for a model config with an RR path
    (``None`` without): :func:`ternecg.golden.spec.rr.record_codes` over exactly these peaks.
    A lone beat has no interval: it gets the codes of a regular rhythm (every ratio 1).
    With ``cfg.rr_template`` the fourth column is the template code of each beat's window
    (``windows_``: the peaks' (n, WINDOW) raw windows, :class:`ternecg.golden.spec.rr.Template`);
    with ``cfg.rr_irregular`` the last column is the irregularity code
    (:func:`ternecg.golden.spec.rr.irregular_codes`)."""
    if not cfg.rr_bits:
        return None
    r = np.asarray(peaks, dtype=np.int64)
    if len(r) == 0:
        return np.zeros((0, cfg.rr_features), np.int64)
    rr = _interval_codes(r, cfg)
    if not cfg.rr_template:
        return rr
    if windows_ is None or len(windows_) != len(r):
        raise TernEcgError(f"config {cfg.name!r} has the template code: pass the {len(r)} beats' windows")
    return np.insert(rr, 3, template_codes(windows_, cfg.rr_bits, cfg.rr_template_gate), axis=1)


def classify(model, raw, rr=None, batch: int = 4096):
    """(classes, logits) int64 arrays of raw windows ``raw`` (n, WINDOW) through the integer
    reference, in batches."""
    from . import integer_ref
    import torch

    n = len(raw)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros((0, len(model.cfg.classes)), np.int64)
    cls, logits = [], []
    raw = torch.as_tensor(np.asarray(raw, dtype=np.int64))
    rr = None if rr is None else torch.as_tensor(np.asarray(rr, dtype=np.int64))
    for i in range(0, n, batch):
        tr = integer_ref.forward(model, raw[i:i + batch], None if rr is None else rr[i:i + batch])
        cls.append(tr.cls.numpy())
        logits.append(tr.logits.numpy())
    return np.concatenate(cls).astype(np.int64), np.concatenate(logits).astype(np.int64)


def beat_peaks(signal, fs: int = 360, peaks=None) -> np.ndarray:
    """The R peaks the monitor classifies: the detector's (or the given ``peaks``, sorted and
    unique) whose window lies inside the record."""
    x = qrs.check_record(signal)
    fs = check_fs(fs)
    if peaks is None:
        r = qrs.detect(x, fs)
    else:
        r = np.asarray(peaks, dtype=np.int64).reshape(-1)
        if np.any(np.diff(r) <= 0):
            raise TernEcgError("R peaks must be strictly increasing sample indices")
    return r[inside(r, len(x))]


def run(model, signal, fs: int = 360, peaks=None) -> Beats:
    """The monitor on a whole record: ``(peaks, classes, logits)`` of every classified beat.

    ``model``: an integer model (:func:`ternecg.golden.spec.modelfile.load`); ``signal``: the raw
    lead MLII, unsigned 11-bit ADC codes; ``peaks``: optional R peaks to use instead of the
    detector's (e.g. the reference annotations; the same window, RR and model chain)."""
    x = qrs.check_record(signal)
    r = beat_peaks(x, fs, peaks)
    w = windows(x, r)
    cls, logits = classify(model, w, codes(r, model.cfg, w))
    return Beats(r, cls, logits)


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Output:
    """One beat as the streaming monitor emits it."""
    sample: int        # R-peak sample
    cls: int           # class index
    logits: tuple      # the logits (RR terms included)
    emitted: int       # the input sample index at which it was decided (len(record) at the end marker)


class MonitorStream:
    """The monitor one sample at a time, as the hardware orders it (docs/arithmetic.md 10.4).

    ``push(x) -> [Output]`` takes one ADC code; ``end() -> [Output]`` is the end-of-record marker.
    Samples go into a ring buffer of :data:`RING`. A detection whose window starts before the
    record is dropped; otherwise its window is taken out of the ring when its last sample
    (``r + HALF - 1``) has arrived (at once if it has), and only then is it a beat of the
    monitor. Taking beat k's window classifies beat k - 1 (its post interval is now known): the
    outputs come one beat late, in detection order (also for a model without RR path). The end
    marker drops a detection whose window is not complete and classifies the last beat with
    post = pre. Pure Python per sample (slow): the reference for :func:`run`.
    """

    def __init__(self, model, fs: int = 360):
        self.model = model
        self.cfg = model.cfg
        self.det = qrs.QrsStream(check_fs(fs))
        self.ring = np.zeros(RING, np.int64)
        self.n = 0                      # samples pushed
        self.peaks: list[int] = []      # the beats so far (detections whose window was taken)
        self.wait: int | None = None    # the latest detection, until its window is complete
        self.window: np.ndarray | None = None   # the window of the latest beat, not yet classified
        self.template = (Template(self.cfg.rr_bits, self.cfg.rr_template_gate)
                         if self.cfg.rr_bits and self.cfg.rr_template else None)
        self.tcode: list[int] = []      # the template code of each beat (rr_template)
        self.ended = False

    def push(self, x) -> list[Output]:
        if self.ended:
            raise TernEcgError("monitor stream: a sample after the end-of-record marker; start a new stream")
        self.ring[self.n % RING] = int(x)
        self.n += 1
        out = self._take()
        for r in self.det.push(x):
            out += self._detection(r)
        return out

    def end(self) -> list[Output]:
        """The end-of-record marker: flush the detector (docs/arithmetic.md 9.5; the flush samples
        are not recorded), drop a detection whose window is incomplete, classify the last beat
        with post = pre."""
        if self.ended:
            return []
        out = []
        self.ended = True
        for r in self.det.finish():     # peaks r < n only
            if r + HALF <= self.n:      # (a detection reported during the flush with a complete window)
                out += self._detection(r)
        self.wait = None                # its window runs past the end of the record: dropped
        if self.window is not None:
            out.append(self._classify(len(self.peaks) - 1))
        return out

    # --------------------------------------------------------------------------------------------
    def _detection(self, r: int) -> list[Output]:
        if r - HALF < 0:
            return []                   # its window starts before the record: not a monitor beat
        if self.wait is not None:       # impossible (docs 10.4): the previous window is complete
            raise RuntimeError(f"monitor: detection {r} reported before the window of {self.wait} was complete")
        self.wait = r
        return self._take()

    def _take(self) -> list[Output]:
        r = self.wait
        if r is None or r + HALF > self.n:
            return []
        if self.n - (r - HALF) > RING:  # impossible (docs 10.4): reported at most 1469 samples late
            raise RuntimeError(f"monitor: the window of {r} left the {RING}-sample ring before it was taken")
        self.peaks.append(r)
        out = [self._classify(len(self.peaks) - 2)] if self.window is not None else []
        self.window = self.ring[np.arange(r - HALF, r + HALF) % RING].copy()
        if self.template is not None:
            self.tcode.append(self.template.push(self.window))
        self.wait = None
        return out

    def _classify(self, k: int) -> Output:
        """Beat ``k`` of :attr:`peaks`, whose window is :attr:`window` (beat k + 1 is known, or the
        record has ended)."""
        N = self.cfg.rr_local
        rr = None
        if self.cfg.rr_bits:            # the last N + 3 peaks are enough for beat k's codes
            tail = np.asarray(self.peaks[max(0, k - N - 1): k + 2], dtype=np.int64)
            rr = _interval_codes(tail, self.cfg)[min(k, N + 1)]
            if self.template is not None:
                rr = np.insert(rr, 3, self.tcode[k])
            rr = rr[None, :]
        cls, logits = classify(self.model, self.window[None, :], rr)
        return Output(self.peaks[k], int(cls[0]), tuple(int(v) for v in logits[0]), self.n)
