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

LOCAL = 8
BITS = 4
FEATURES = ("pre/local", "post/local", "post/pre")


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
