"""RR-interval codes of each beat: the timing context a 240-sample window does not hold (torch-free).

A host that cuts beats at R peaks knows the peak positions, so it can send a few small integers
beside each beat. Per beat, with ``pre`` / ``post`` the distance in samples to the previous / next
R peak of the same record and ``local`` the mean of the last ``LOCAL`` pre intervals (this one
included; causal, so a host can compute it with one beat of latency for ``post``):

    code = clip(round(2^(b-1) * ratio), 0, 2^b - 1)   for ratio in (pre/local, post/local, post/pre)

with b bits per code (default BITS = 4: a step of 1/8, ratios up to 15/8). A code of 2^(b-1) is a
regular rhythm; premature beats (S, V) give pre/local < 1 and post/pre > 1.
The first beat of a record takes its post interval as pre, the last its pre as post.
:func:`thermometer` expands the codes to bits, so that a linear layer on them is a free
per-code table (a hardware lookup, no multiplier).
"""

from __future__ import annotations

import numpy as np

from .normalize import mean_constants

LOCAL = 8
BITS = 4
FEATURES = ("pre/local", "post/local", "post/pre")
#: the code of a config with ``rr_template`` (:class:`Template`)
TEMPLATE_FEATURE = "template"
#: the code of a config with ``rr_irregular`` (:func:`irregular_codes`)
IRREGULAR_FEATURE = "irregular"
#: the irregularity code's scale: code(|delta pre| sum << IRREGULAR_SHIFT, W)
IRREGULAR_SHIFT = 2


def feature_names(cfg) -> tuple:
    """The names of the codes a model config reads, in code order (empty without an RR path):
    the three interval codes, then the template code (``rr_template``), then the irregularity
    code (``rr_irregular``)."""
    if not cfg.rr_bits:
        return ()
    return (FEATURES + ((TEMPLATE_FEATURE,) if cfg.rr_template else ())
            + ((IRREGULAR_FEATURE,) if cfg.rr_irregular else ()))


def _ratio_code(num, den, bits):
    """clip(floor(2^(b-1) * num / den + 1/2), 0, 2^b - 1) in exact integer arithmetic."""
    return np.clip(((num << bits) + den) // (2 * den), 0, (1 << bits) - 1)


def record_codes(samples, local=LOCAL, bits=BITS) -> np.ndarray:
    """(N, 3) int64 codes of one record's increasing R-peak samples (what a host computes).

    Integer arithmetic only (no float rounding to disagree on): with ``S`` the sum of the last
    ``k <= local`` pre intervals, pre/local = pre * k / S.
    """
    s = np.asarray(samples, dtype=np.int64)
    d = np.diff(s)
    pre = np.concatenate([d[:1], d])
    post = np.concatenate([d, d[-1:]])
    c = np.concatenate([[0], np.cumsum(pre)])
    k = np.arange(len(pre))
    lo = np.maximum(0, k + 1 - local)
    win, cnt = c[k + 1] - c[lo], k + 1 - lo
    return np.stack([_ratio_code(pre * cnt, win, bits), _ratio_code(post * cnt, win, bits),
                     _ratio_code(post, pre, bits)], 1)


def irregular_codes(samples, local=LOCAL, bits=BITS) -> np.ndarray:
    """(N,) int64 irregularity codes (config ``rr_irregular``) of one record's increasing R peaks:
    how much the rhythm varies around each beat, the cue that tells a premature beat in
    atrial fibrillation (N) from an isolated premature beat (S). With ``pre``, ``K`` and ``W``
    as in :func:`record_codes` and ``d[n] = |pre[n] - pre[n-1]|`` (``d[0] = 0``):

        code(4 * (d[n - K + 1] + ... + d[n]), W)      (the mean |delta RR| / the mean RR, step 1/32)
    """
    s = np.asarray(samples, dtype=np.int64)
    d = np.diff(s)
    pre = np.concatenate([d[:1], d])
    dd = np.abs(np.diff(np.concatenate([pre[:1], pre])))
    c = np.concatenate([[0], np.cumsum(pre)])
    cd = np.concatenate([[0], np.cumsum(dd)])
    k = np.arange(len(pre))
    lo = np.maximum(0, k + 1 - local)
    return _ratio_code((cd[k + 1] - cd[lo]) << IRREGULAR_SHIFT, c[k + 1] - c[lo], bits)


# ------------------------------------------------------------------------------------------------
# The template code (config ``rr_template``): how far a beat's shape is from its patient's running
# average beat, the cue that tells a premature beat shaped like this patient's usual ones (S) from
# one shaped otherwise (V). Measured first by `make morph-probe` (golden/morph_probe.py).
#: template update: t += (w - t) >> TEMPLATE_SHIFT (an exponential average over about 8 beats)
TEMPLATE_SHIFT = 3
#: the window is scaled by 2**TEMPLATE_SCALE before the average, so that the update keeps fractions
TEMPLATE_SCALE = 4


class Template:
    """The running template of one record and the code of each beat against it (integer only).

    For each beat's raw window ``x`` (the monitor's 240 unsigned 11-bit samples):

        mean = (sum(x) * MEAN_MUL) >> MEAN_SHIFT              (the normaliser's mean, spec.normalize)
        w[t] = (x[t] - mean) << TEMPLATE_SCALE                (signed, |w| < 2**15)
        first beat of the record:  T = w
        D = sum |w[t] - T[t]|,  S = max(1, sum |T[t]|)
        code = min(((D << b) + S) // (2 S), 2^b - 1)          (round(2^(b-1) D / S), as the RR codes)
        if code < gate:  T[t] += (w[t] - T[t]) >> TEMPLATE_SHIFT   (arithmetic shift: floor)

    ``gate`` = 2^b (default) updates with every beat. The code of the first beat is 0.
    """

    def __init__(self, bits=BITS, gate=None, length=240):
        self.bits = bits
        self.gate = (1 << bits) if gate is None else int(gate)
        self.mul, self.shift = mean_constants(length)
        self.length = length
        self.t = None

    def push(self, window) -> int:
        """The code of the next beat's window (then the template's update)."""
        x = np.asarray(window, dtype=np.int64)
        if x.shape != (self.length,):
            raise ValueError(f"template: a window of {self.length} samples, got shape {x.shape}")
        mean = (int(x.sum()) * self.mul) >> self.shift
        w = (x - mean) << TEMPLATE_SCALE
        if self.t is None:
            self.t = w.copy()
        d = int(np.abs(w - self.t).sum())
        s = max(1, int(np.abs(self.t).sum()))
        code = int(_ratio_code(np.int64(d), np.int64(s), self.bits))
        if code < self.gate:
            self.t = self.t + ((w - self.t) >> TEMPLATE_SHIFT)
        return code


def template_codes(windows, bits=BITS, gate=None) -> np.ndarray:
    """(n,) int64 template codes of one record's beat windows ``(n, 240)``, in beat order."""
    tm = Template(bits, gate, np.asarray(windows).shape[-1] if len(windows) else 240)
    return np.array([tm.push(w) for w in np.asarray(windows)], dtype=np.int64)
