"""RR-interval codes of each beat: the timing context a 240-sample window does not hold.

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
import torch

from ternecg.errors import TernEcgError

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


def rr_codes(beats, local=LOCAL, bits=BITS) -> torch.Tensor:
    """(N, 3) int64 codes of :data:`FEATURES` for ``beats`` (records in any order, peaks sorted within)."""
    codes = np.zeros((len(beats), len(FEATURES)), dtype=np.int64)
    for rec in np.unique(beats.record):
        idx = np.flatnonzero(beats.record == rec)
        s = beats.sample[idx]
        if len(s) < 2:
            raise TernEcgError(f"record {rec}: RR codes need at least 2 beats, got {len(s)}")
        if np.any(np.diff(s) <= 0):
            raise TernEcgError(f"record {rec}: R-peak samples must increase; sort the beats by sample")
        codes[idx] = record_codes(s, local, bits)
    return torch.from_numpy(codes)


def model_codes(beats, cfg) -> torch.Tensor:
    """The RR codes a model with config ``cfg`` (its ``rr_bits`` and ``rr_local``) reads."""
    if not cfg.rr_bits:
        raise TernEcgError(f"config {cfg.name!r} has no RR path (no 'rr_bits')")
    return rr_codes(beats, local=cfg.rr_local, bits=cfg.rr_bits)


def thermometer(codes, bits=BITS) -> torch.Tensor:
    """(N, F) codes -> (N, F * (2^bits - 1)) float bits: bit j of feature f is ``code_f > j``."""
    levels = torch.arange(1, 1 << bits)
    return (torch.as_tensor(codes).unsqueeze(-1) >= levels).flatten(1).float()


def rr_inputs(beats, x, bits=BITS, local=LOCAL) -> torch.Tensor:
    """Training rows of an RR model: the normalised beats ``x`` (N, L), then the thermometer bits
    of their codes (what :class:`ternecg.golden.model.Net` with ``rr_bits`` reads)."""
    return torch.cat([torch.as_tensor(x).float(), thermometer(rr_codes(beats, local=local, bits=bits), bits)], 1)
