"""The integer reference: what the hardware computes, bit for bit, from a model file alone.

Every tensor is int64; docs/arithmetic.md defines each step in words. ``forward`` returns the
integer output of every layer (and the MUX-skip internals), the logits and the class.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ternecg.errors import TernEcgError

from .spec.config import MuxSpec
from .spec.modelfile import IntConv, IntModel
from .normalize import normalize


def conv_acc(conv: IntConv, x):
    """Accumulators of a ternary grouped conv. x: (N, cin, L) int64 -> (N, cout, lout) int64.

    Group i of kernel k reads input channels [i*cin_g, (i+1)*cin_g), zero padding k//2 on both
    sides ("same") or none ("valid"); output t sums w[c, j] * x[c, stride*t + j - pad].
    """
    s = conv.spec
    outs = []
    for g, k in enumerate(s.kernels):
        xg = x[:, g * s.cin_g:(g + 1) * s.cin_g]
        pad = k // 2 if s.pad == "same" else 0
        xp = torch.nn.functional.pad(xg, (pad, pad))
        win = xp.unfold(2, k, s.stride)[:, :, :s.lout]           # (N, cin_g, lout, k)
        w = torch.as_tensor(np.stack(conv.codes[g * s.cout_g:(g + 1) * s.cout_g]))  # (cout_g, cin_g, k)
        outs.append(torch.einsum("nclk,ock->nol", win, w))
    return torch.cat(outs, 1)


def activate(conv: IntConv, acc):
    """b-bit unsigned activation: q = number of channel thresholds T_j with acc >= T_j."""
    t = torch.as_tensor(conv.thresholds).unsqueeze(0).unsqueeze(-1)  # (1, C, 2^b-1, 1)
    return (acc.unsqueeze(2) >= t).sum(2)


def shuffle(x, groups):
    """Channel shuffle: output channel j*g + i <- input channel i*(C/g) + j."""
    n, c, length = x.shape
    return x.view(n, groups, c // groups, length).transpose(1, 2).reshape(n, c, length)


def shuffle_permutation(channels, groups):
    """perm[new] = old for :func:`shuffle`."""
    cg = channels // groups
    return [(new % groups) * cg + new // groups for new in range(channels)]


def mux_select(qa, act_bits):
    """S[c] = 1 when the depthwise branch dominates: 2 * sum_t qa[c, t] > (2^b - 1) * L."""
    return 2 * qa.sum(-1) > ((1 << act_bits) - 1) * qa.shape[-1]


def mux_combine(qa, qg, select):
    """The MUX-skip output: ``qa`` where ``select[c]``, else the bit-shift average ``(qa + qg) >> 1``.

    ``qa``, ``qg``: (..., C, L) integer tensors; ``select``: (..., C) booleans (:func:`mux_select`).
    """
    qa, qg = torch.as_tensor(qa), torch.as_tensor(qg)
    return torch.where(torch.as_tensor(select).unsqueeze(-1), qa, (qa + qg) >> 1)


@dataclass
class Trace:
    """Integer results of one forward pass (batch dimension first everywhere)."""
    input: torch.Tensor                          # normalised int8 beats (N, L)
    layers: list = field(default_factory=list)   # per config layer: output map (N, C, L) / logits
    accs: list = field(default_factory=list)     # per layer: accumulators (conv) or None (mux)
    mux: dict = field(default_factory=dict)      # layer index -> {"qa", "qg", "select"}
    logits: torch.Tensor = None
    cls: torch.Tensor = None
    rr: torch.Tensor = None                      # (N, classes) RR-table sum added to the logits


def rr_check(model: IntModel, rr, n):
    """``rr`` as an (n, features) int64 tensor of codes, checked against the model's RR path."""
    cfg = model.cfg
    if not cfg.rr_bits:
        if rr is not None:
            raise TernEcgError(f"model {cfg.name!r} has no RR path; do not pass RR codes")
        return None
    if rr is None:
        raise TernEcgError(f"model {cfg.name!r} adds RR-interval codes to its logits: pass the "
                           f"{cfg.rr_features} codes of every beat (ternecg.golden.rr.rr_codes)")
    rr = torch.as_tensor(rr).to(torch.int64)
    if rr.dim() == 1:
        rr = rr.unsqueeze(0)
    if rr.shape != (n, cfg.rr_features):
        raise TernEcgError(f"RR codes have shape {tuple(rr.shape)}, expected ({n}, {cfg.rr_features})")
    if bool(((rr < 0) | (rr >= 1 << cfg.rr_bits)).any()):
        raise TernEcgError(f"RR codes must lie in 0..{(1 << cfg.rr_bits) - 1} (rr_bits = {cfg.rr_bits})")
    return rr


def rr_sum(table, rr):
    """(N, classes): sum over features f of table[class, f, rr[n, f]]."""
    table, rr = torch.as_tensor(table), torch.as_tensor(rr)
    f = torch.arange(table.shape[1])
    return table[:, f, rr].sum(-1).t()          # table[:, f, rr] is (classes, N, F)


def forward(model: IntModel, raw, rr=None):
    """raw: (N, L) or (L,) unsigned 11-bit samples (and, for a model with an RR path, rr: (N, 3)
    codes) -> :class:`Trace`."""
    raw = torch.as_tensor(raw).to(torch.int64)
    if raw.dim() == 1:
        raw = raw.unsqueeze(0)
    rr = rr_check(model, rr, raw.shape[0])
    x0 = normalize(raw)
    tr = Trace(input=x0)
    x = x0.unsqueeze(1)
    b = model.cfg.act_bits
    for i, layer in enumerate(model.layers):
        if isinstance(layer.spec, MuxSpec):
            qa = activate(layer.dw, conv_acc(layer.dw, x))
            qg = activate(layer.grp, conv_acc(layer.grp, x))
            sel = mux_select(qa, b)
            y = mux_combine(qa, qg, sel)
            if layer.spec.shuffle:
                y = shuffle(y, layer.spec.grp.groups)
            tr.mux[i] = {"qa": qa, "qg": qg, "select": sel}
            tr.accs.append(None)
        else:
            acc = conv_acc(layer, x)
            tr.accs.append(acc)
            if layer.spec.final:
                y = acc + torch.as_tensor(layer.bias).view(1, -1, 1)
            else:
                y = activate(layer, acc)
                if layer.spec.shuffle:
                    y = shuffle(y, layer.spec.groups)
        tr.layers.append(y)
        x = y
    tr.logits = x.flatten(1)
    if rr is not None:
        tr.rr = rr_sum(model.rr_table, rr)
        tr.logits = tr.logits + tr.rr
    tr.cls = argmax_lowest(tr.logits)
    if rr is not None:
        tr.cls = apply_rules(model.rr_rules, tr.cls, rr)
    return tr


def apply_rule(rule, cls, rr):
    """The RR rule (docs/arithmetic.md 6): a beat of class ``rule["from"]`` whose every RR code
    ``f`` is at most ``rule["max_codes"][f]`` becomes class ``rule["to"]``; its logits stay."""
    cls, rr = torch.as_tensor(cls), torch.as_tensor(rr)
    hit = (cls == rule["from"]) & (rr <= torch.as_tensor(rule["max_codes"]).view(1, -1)).all(1)
    return torch.where(hit, torch.as_tensor(rule["to"]), cls)


def apply_rules(rules, cls, rr):
    """The model's RR rules in their order (docs/arithmetic.md 6): each rule sees the class the
    rules before it left, so a beat one rule moves may be moved again by a later one."""
    cls = torch.as_tensor(cls)
    for rule in rules:
        cls = apply_rule(rule, cls, rr)
    return cls


def argmax_lowest(logits):
    """Index of the largest logit, ties broken by the lowest index."""
    best = logits.max(1, keepdim=True).values
    idx = torch.arange(logits.shape[1]).expand_as(logits)
    return torch.where(logits == best, idx, logits.shape[1]).min(1).values


def classify(model: IntModel, raw, rr=None, batch=4096):
    """Classes of many beats, in batches. raw: (N, L) [, rr: (N, 3) codes] -> (N,) int64."""
    raw = torch.as_tensor(raw)
    rr = rr_check(model, rr, len(raw))
    return torch.cat([forward(model, raw[i:i + batch], None if rr is None else rr[i:i + batch]).cls
                      for i in range(0, len(raw), batch)]) \
        if len(raw) else torch.zeros(0, dtype=torch.int64)
