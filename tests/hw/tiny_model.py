"""A tiny random model with every phase kind of the engine (for fast simulations of its parts).

24 input samples, 2-bit activations: a regular conv (stride 2), an MSGC conv with two kernel sizes
and channel shuffle (stride 1), a MUX-skip block (depthwise + MSGC, stride 2, shuffled), a dense
layer and the logits layer. Weights and thresholds are random (seeded); golden's integer reference
runs it like any model file.
"""

from __future__ import annotations

import numpy as np

from ternecg.golden.spec.config import MuxSpec, parse_config
from ternecg.golden.spec.modelfile import IntConv, IntModel, IntMux

CONFIG = {
    "name": "tiny", "task": "aami4", "input_length": 24, "act_bits": 2,
    "layers": [
        {"type": "conv", "conv": "regular", "out": 6, "kernel": 3, "stride": 2},
        {"type": "conv", "conv": "msgc", "groups": 2, "kernels": [1, 3], "out": 4, "stride": 1},
        {"type": "muxskip", "dw_kernel": 3, "conv": "msgc", "groups": 2, "kernels": [1, 3], "stride": 2},
        {"type": "dense", "out": 5},
        {"type": "dense", "out": 4},
    ],
}


def _conv(spec, rng, in_bound, q, final=False):
    codes = []
    for oc in range(spec.cout):
        k = spec.kernel_of(oc)
        codes.append(rng.choice([-1, 0, 0, 1], size=(spec.cin_g, k)).astype(np.int64))
    fan_in = max(spec.cin_g * k for k in spec.kernels)
    bound = fan_in * in_bound
    acc_bits = bound.bit_length() + 1
    thresholds = bias = None
    if final:
        bias = rng.integers(-bound, bound + 1, size=spec.cout).astype(np.int64)
    else:
        # ascending thresholds around the spread of the sums (so that every level occurs)
        scale = max(1, int(np.sqrt(fan_in)) * in_bound // 2)
        thresholds = np.sort(rng.integers(-scale, scale + 1, size=(spec.cout, q)), axis=1).astype(np.int64)
    return IntConv(spec=spec, codes=codes, thresholds=thresholds, bias=bias, acc_bits=acc_bits)


def tiny_model(seed=0, config=None) -> IntModel:
    """The tiny model (``config``: another config dict of the same form)."""
    cfg = parse_config(config or CONFIG, "tiny")
    rng = np.random.default_rng(seed)
    q = (1 << cfg.act_bits) - 1
    layers = []
    in_bound = 127
    for i, spec in enumerate(cfg.layers):
        if isinstance(spec, MuxSpec):
            dw = _conv(spec.dw, rng, in_bound, q)
            dw.thresholds[1::2] += 3 * in_bound         # odd channels rarely select the depthwise branch,
            dw.thresholds[0::2] -= 3 * in_bound         # even ones mostly do
            layers.append(IntMux(spec=spec, dw=dw, grp=_conv(spec.grp, rng, in_bound, q)))
        else:
            layers.append(_conv(spec, rng, in_bound, q, final=i == len(cfg.layers) - 1))
        in_bound = q
    return IntModel(cfg=cfg, layers=layers, meta={}, sha256=f"{seed:064x}")


def tiny_beats(n, seed=0):
    """``n`` random raw 11-bit beats of the tiny model's length."""
    rng = np.random.default_rng(1000 + seed)
    base = rng.integers(600, 1400, size=(n, 1))
    return (base + rng.integers(-300, 300, size=(n, CONFIG["input_length"]))).clip(0, 2047).astype(np.int64)
