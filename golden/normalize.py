"""Per-beat integer normalisation of raw 11-bit ADC samples into signed 8-bit inputs (PyTorch).

The integer reference of docs/arithmetic.md section 1; the constants and the arithmetic's shape
are in :mod:`ternecg.golden.spec.normalize`.
"""

import torch

from .spec.normalize import MEAN_MUL, MEAN_SHIFT, OUT_MAX, RAW_BITS, max_shift, mean_constants  # noqa: F401


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
