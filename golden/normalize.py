"""Per-beat integer normalisation of raw 11-bit ADC samples into signed 8-bit inputs.

This is part of the hardware's specification (docs/arithmetic.md, section "Normalisation"):

    s    = sum(x[0..L-1])                          (L = 240, x unsigned 11-bit)
    mean = (s * MEAN_MUL) >> MEAN_SHIFT            (MEAN_MUL / 2**MEAN_SHIFT ~ 1/L)
    d[t] = x[t] - mean                             (signed)
    m    = max(max(x) - mean, mean - min(x))       (= max |d|)
    k    = smallest k >= 0 with (m >> k) <= 127
    y[t] = d[t] >> k                               (arithmetic shift: floor), in -128..127

``MEAN_MUL`` = 4369 = 0x1111 so the multiply is three shifted additions in hardware.
"""

import torch

MEAN_MUL = 4369      # round(2**20 / 240) = 4369 = 2**12 + 2**8 + 2**4 + 1
MEAN_SHIFT = 20
OUT_MAX = 127
RAW_BITS = 11


def mean_constants(length):
    """(multiplier, shift) for a window length; 240 is the one the hardware is built for."""
    mul = round((1 << MEAN_SHIFT) / length)
    return mul, MEAN_SHIFT


def max_shift(length=240):
    """Largest shift k the normaliser can need for RAW_BITS-bit samples."""
    k = 0
    while ((1 << RAW_BITS) - 1) >> k > OUT_MAX:
        k += 1
    return k


def normalize(raw):
    """raw: integer tensor (..., L) of unsigned 11-bit samples -> int64 tensor (..., L) in -128..127."""
    x = torch.as_tensor(raw).to(torch.int64)
    d = normalize_details(x)
    return (x - d["mean"].unsqueeze(-1)) >> d["shift"].unsqueeze(-1)


def normalize_details(raw):
    """Intermediate values (mean, m, k) of :func:`normalize`, for hardware tests and docs."""
    x = torch.as_tensor(raw).to(torch.int64)
    mul, shift = mean_constants(x.shape[-1])
    mean = (x.sum(-1) * mul) >> shift
    m = torch.maximum(x.max(-1).values - mean, mean - x.min(-1).values)
    k = torch.zeros_like(m)
    for _ in range(max_shift(x.shape[-1]) + 1):
        k = k + ((m >> k) > OUT_MAX).to(torch.int64)
    return {"sum": x.sum(-1), "mean": mean, "maxdev": m, "shift": k}
