"""Quantisation-aware training primitives: ternary weights and the b-bit quantised ReLU.

Both use straight-through estimators. The rounding used here is the one the integer reference and
the hardware use: ``floor(v + 1/2)`` (round half up), never torch.round (half to even).
"""

import torch
from torch import nn


def ste(x, q):
    """Forward q, backward identity to x."""
    return x + (q - x).detach()


def ternarize(w, delta_ratio=0.7):
    """TWN ternarisation per output channel: codes in {-1, 0, +1} and a positive scale alpha.

    Returns (codes, alpha) with ``w ~ alpha * codes``; codes are a plain tensor (no gradient).
    """
    dims = tuple(range(1, w.dim()))
    delta = delta_ratio * w.abs().mean(dim=dims, keepdim=True)
    codes = (w > delta).to(w.dtype) - (w < -delta).to(w.dtype)
    nz = codes.abs()
    alpha = (w.abs() * nz).sum(dim=dims, keepdim=True) / nz.sum(dim=dims, keepdim=True).clamp(min=1)
    return codes.detach(), alpha


class TernaryWeight(nn.Module):
    """A weight tensor trained in float and used as alpha * ternary codes in the forward pass."""

    def __init__(self, shape, fan_in, quant=True):
        super().__init__()
        self.quant = quant
        self.weight = nn.Parameter(torch.randn(shape) * (1.0 / fan_in) ** 0.5)

    def forward(self):
        if not self.quant:
            return self.weight
        codes, alpha = ternarize(self.weight)
        return ste(self.weight, alpha.detach() * codes) if self.training else alpha * codes

    def codes(self):
        return ternarize(self.weight.detach())[0].to(torch.int64)


def round_half_up(x):
    return torch.floor(x + 0.5)


class QReLU(nn.Module):
    """Quantised ReLU to ``bits`` unsigned bits with a learned step (LSQ-style, STE).

    With ``quant=False`` it is a clipped ReLU of the same range (the float model of the topology).
    ``forward`` returns the float value ``step * q``; ``levels`` returns the integer q.
    """

    def __init__(self, bits, init_step=None, quant=True):
        super().__init__()
        self.quant = quant
        self.qmax = (1 << bits) - 1
        self.step = nn.Parameter(torch.tensor(init_step or 4.0 / self.qmax))

    def levels(self, y):
        s = self.step.abs() + 1e-6
        if not self.quant:          # float twin: clipped ReLU on the same scale, no rounding
            return torch.clamp(y / s, 0, self.qmax)
        return torch.clamp(ste(y / s, round_half_up(y / s)), 0, self.qmax)

    def forward(self, y):
        return self.levels(y) * (self.step.abs() + 1e-6)
