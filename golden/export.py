"""Fold a trained :class:`~ternecg.golden.model.Net` into the integer model file.

For a conv followed by batch norm and the b-bit QReLU with step s, the float pre-activation is
``y = G * acc + H`` with ``G = gamma * alpha * s_in / sqrt(var + eps)`` and
``H = beta - gamma * mean / sqrt(var + eps)``; the QReLU level ``q = clamp(floor(y/s + 1/2), 0, Q)``
satisfies ``q >= j  <=>  acc >= T_j = ceil(((j - 1/2) * s - H) / G)`` when G > 0. A channel with
G < 0 has its ternary codes negated (then acc -> -acc and G -> -G); a channel with G == 0 gets
constant thresholds. Thresholds are clamped to [-B, B + 1] with B the worst-case |acc|.
"""

import math

import torch

from .model import MuxSkipBlock, Net
from .spec.modelfile import acc_bits_needed, acc_bound, encode_conv, input_bound, make_document


def _thresholds(conv, bn, step, s_in, act_bits, codes, xmax):
    alpha = conv.alphas().double()
    var = bn.running_var.detach().double()
    inv = bn.weight.detach().double() / torch.sqrt(var + bn.eps)
    gain = inv * alpha * s_in
    offs = bn.bias.detach().double() - inv * bn.running_mean.detach().double()
    qmax = (1 << act_bits) - 1
    rows, out_codes = [], []
    spec = conv.spec
    for oc in range(spec.cout):
        c = codes[oc // spec.cout_g][oc % spec.cout_g]
        bound = acc_bound([c], xmax)
        g, h = float(gain[oc]), float(offs[oc])
        if g < 0:
            c, g, h = -c, -g, h
        row = []
        for j in range(1, qmax + 1):
            level = (j - 0.5) * step
            if g == 0:
                t = -bound if h >= level else bound + 1
            else:
                t = math.ceil((level - h) / g)
            row.append(min(max(t, -bound), bound + 1))
        rows.append(row)
        out_codes.append(c)
    return out_codes, torch.tensor(rows, dtype=torch.int64)


def _flat_codes(conv):
    return [c for group in conv.codes() for c in group]


def _conv_entry(conv, bn, step, s_in, act_bits, xmax):
    codes = conv.codes()
    codes, th = _thresholds(conv, bn, step, s_in, act_bits, codes, xmax)
    return encode_conv(conv.spec, codes, thresholds=th, acc_bits=acc_bits_needed(codes, xmax))


def export(net: Net, meta=None):
    """Return the model-file document (a dict) of a trained net (BN running statistics)."""
    net = net.eval()
    cfg = net.cfg
    steps = net.act_steps()
    entries = []
    for i, block in enumerate(net.blocks):
        s_in = steps[i]
        xmax = input_bound(cfg.act_bits, i)
        if isinstance(block, MuxSkipBlock):
            step = float(block.act.step.detach().abs() + 1e-6)
            entries.append({"name": block.spec.name,
                            "dw": _conv_entry(block.dw, block.bn_dw, step, s_in, cfg.act_bits, xmax),
                            "grp": _conv_entry(block.grp, block.bn_grp, step, s_in, cfg.act_bits, xmax)})
        elif block.spec.final:
            codes = _flat_codes(block.conv)
            alpha = float(block.conv.alphas()[0])
            bias = torch.round(block.bias.detach().double() / (alpha * s_in)).to(torch.int64)
            entries.append(encode_conv(block.spec, codes, bias=bias,
                                       acc_bits=acc_bits_needed(codes, xmax),
                                       rr_table=net.rr_table() if cfg.rr_bits else None))
        else:
            step = float(block.act.step.detach().abs() + 1e-6)
            entries.append(_conv_entry(block.conv, block.bn, step, s_in, cfg.act_bits, xmax))
    return make_document(cfg, entries, meta or {})
