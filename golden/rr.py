"""RR-interval codes of each beat: the timing context a 240-sample window does not hold.

A host that cuts beats at R peaks knows the peak positions, so it can send a few small integers
beside each beat. Per beat, with ``pre`` / ``post`` the distance in samples to the previous / next
R peak of the same record and ``local`` the mean of the last ``LOCAL`` pre intervals (this one
included; causal, so a host can compute it with one beat of latency for ``post``):

    code = clip(round(8 * ratio), 0, 2^BITS - 1)   for ratio in (pre/local, post/local, post/pre)

A code of 8 is a regular rhythm; premature beats (S, V) give pre/local < 1 and post/pre > 1.
The first beat of a record takes its post interval as pre, the last its pre as post.
:func:`thermometer` expands the codes to bits, so that a linear layer on them is a free
per-code table (a hardware lookup, no multiplier).
"""

from __future__ import annotations

import numpy as np
import torch

from ternecg.errors import TernEcgError

LOCAL = 8
BITS = 4
FEATURES = ("pre/local", "post/local", "post/pre")


def rr_codes(beats, local=LOCAL, bits=BITS) -> torch.Tensor:
    """(N, 3) int64 codes of :data:`FEATURES` for ``beats`` (records in any order, peaks sorted within)."""
    n = len(beats)
    ratios = np.zeros((n, len(FEATURES)))
    for rec in np.unique(beats.record):
        idx = np.flatnonzero(beats.record == rec)
        s = beats.sample[idx].astype(np.float64)
        if len(s) < 2:
            raise TernEcgError(f"record {rec}: RR codes need at least 2 beats, got {len(s)}")
        if np.any(np.diff(s) <= 0):
            raise TernEcgError(f"record {rec}: R-peak samples must increase; sort the beats by sample")
        d = np.diff(s)
        pre = np.concatenate([[d[0]], d])
        post = np.concatenate([d, [d[-1]]])
        c = np.concatenate([[0.0], np.cumsum(pre)])
        k = np.arange(len(pre))
        lo = np.maximum(0, k + 1 - local)
        mean = (c[k + 1] - c[lo]) / (k + 1 - lo)
        ratios[idx] = np.stack([pre / mean, post / mean, post / pre], 1)
    codes = np.clip(np.round(ratios * 8), 0, (1 << bits) - 1)
    return torch.from_numpy(codes.astype(np.int64))


def thermometer(codes, bits=BITS) -> torch.Tensor:
    """(N, F) codes -> (N, F * (2^bits - 1)) float bits: bit j of feature f is ``code_f > j``."""
    levels = torch.arange(1, 1 << bits)
    return (torch.as_tensor(codes).unsqueeze(-1) >= levels).flatten(1).float()
