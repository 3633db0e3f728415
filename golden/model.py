"""The float (quantisation-aware) model of a config: ternary convs, batch norm, b-bit QReLU, MUX-skip.

Eval mode computes, up to float rounding, exactly what :mod:`ternecg.golden.integer_ref` computes
from the exported model file; :mod:`ternecg.golden.export` folds it into integers.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .spec.config import ConvSpec, MuxSpec, ModelConfig
from .quant import QReLU, TernaryWeight, round_half_up, ste, ternarize

INPUT_SCALE = 1.0 / 64      # float model input = normalised int8 sample * INPUT_SCALE


def shuffle_channels(x, groups):
    """ShuffleNet channel shuffle: output channel j*g + i <- input channel i*(C/g) + j."""
    n, c, length = x.shape
    return x.view(n, groups, c // groups, length).transpose(1, 2).reshape(n, c, length)


class TernaryConv(nn.Module):
    """Grouped 1-D convolution with a kernel size per group, ternary weights, no bias."""

    def __init__(self, spec: ConvSpec, per_channel_alpha=True, quant=True):
        super().__init__()
        self.quant = quant
        self.spec = spec
        self.kmax = max(spec.kernels)
        self.per_channel_alpha = per_channel_alpha
        self.w = nn.ModuleList(
            TernaryWeight((spec.cout_g, spec.cin_g, k), spec.cin_g * k, quant) for k in spec.kernels)

    def full_weight(self):
        """(cout, cin_g, kmax) weight with each group's kernel centred (zeros elsewhere)."""
        parts = []
        for tw, k in zip(self.w, self.spec.kernels):
            wq = tw() if self.per_channel_alpha or not self.quant else self._layer_alpha(tw)
            off = (self.kmax - k) // 2
            parts.append(F.pad(wq, (off, self.kmax - k - off)))
        return torch.cat(parts, 0)

    def _layer_alpha(self, tw):
        # one scale for the whole layer (logits layer): argmax is invariant to it
        codes, alpha = ternarize(tw.weight.flatten().unsqueeze(0))
        codes = codes.view_as(tw.weight)
        return ste(tw.weight, alpha.detach().squeeze() * codes) if self.training else alpha.squeeze() * codes

    def codes(self):
        """Integer ternary codes per group: list of (cout_g, cin_g, k) int64 tensors."""
        if self.per_channel_alpha:
            return [tw.codes() for tw in self.w]
        return [ternarize(tw.weight.detach().flatten().unsqueeze(0))[0].view_as(tw.weight).to(torch.int64)
                for tw in self.w]

    def alphas(self):
        if self.per_channel_alpha:
            return torch.cat([ternarize(tw.weight.detach())[1].flatten() for tw in self.w])
        return torch.cat([ternarize(tw.weight.detach().flatten().unsqueeze(0))[1].flatten() for tw in self.w])

    def forward(self, x):
        s = self.spec
        pad = self.kmax // 2 if s.pad == "same" else 0
        return F.conv1d(x, self.full_weight(), stride=s.stride, padding=pad, groups=s.groups)


class ConvBlock(nn.Module):
    """conv -> batch norm -> QReLU [-> shuffle]; or, for the logits layer, conv -> + bias."""

    def __init__(self, spec: ConvSpec, act_bits, quant=True):
        super().__init__()
        self.spec = spec
        self.conv = TernaryConv(spec, per_channel_alpha=not spec.final, quant=quant)
        if spec.final:
            self.bias = nn.Parameter(torch.zeros(spec.cout))
        else:
            self.bn = nn.BatchNorm1d(spec.cout)
            self.act = QReLU(act_bits, quant=quant)

    def forward(self, x):
        y = self.conv(x)
        if self.spec.final:
            return y + self.bias.view(1, -1, 1)
        y = self.act(self.bn(y))
        return shuffle_channels(y, self.spec.groups) if self.spec.shuffle else y


class MuxSkipBlock(nn.Module):
    """Depthwise branch a and grouped branch g; per channel S = [2*sum_t a > qmax*L];
    output levels = a where S, else (a + g) >> 1. One activation step is shared by both branches
    so the integer average is meaningful."""

    def __init__(self, spec: MuxSpec, act_bits, quant=True):
        super().__init__()
        self.spec = spec
        self.quant = quant
        self.dw = TernaryConv(spec.dw, quant=quant)
        self.grp = TernaryConv(spec.grp, quant=quant)
        self.bn_dw = nn.BatchNorm1d(spec.cout)
        self.bn_grp = nn.BatchNorm1d(spec.cout)
        self.act = QReLU(act_bits, quant=quant)

    def forward(self, x, return_select=False):
        qa = self.act.levels(self.bn_dw(self.dw(x)))
        qg = self.act.levels(self.bn_grp(self.grp(x)))
        length = qa.shape[-1]
        sel = (2 * qa.detach().sum(-1, keepdim=True) > self.act.qmax * length)
        avg = (qa + qg) / 2
        out = torch.where(sel, qa, ste(avg, torch.floor(avg)) if self.quant else avg)
        y = out * (self.act.step.abs() + 1e-6)
        if self.spec.shuffle:
            y = shuffle_channels(y, self.spec.grp.groups)
        return (y, sel.squeeze(-1)) if return_select else y


class Net(nn.Module):
    """The model of a config; ``quant=False`` gives the float model of the same topology.

    With ``cfg.rr_bits`` the input rows carry, after the ``input_length`` samples, the thermometer
    bits of the beat's RR codes (:func:`ternecg.golden.rr.thermometer`), and a linear table on them
    (``rr_w``, classes x features x (2^b - 1)) is added to the logits. Code c of a feature adds the
    sum of its first c weights; in QAT those sums are whole logit units (straight-through rounding),
    so the exported integer table (:meth:`rr_table`) gives the same logits.
    """

    def __init__(self, cfg: ModelConfig, quant=True):
        super().__init__()
        self.cfg = cfg
        self.quant = quant
        self.blocks = nn.ModuleList(
            MuxSkipBlock(s, cfg.act_bits, quant) if isinstance(s, MuxSpec)
            else ConvBlock(s, cfg.act_bits, quant) for s in cfg.layers)
        if cfg.rr_bits:
            self.rr_w = nn.Parameter(torch.zeros(cfg.layers[-1].cout, cfg.rr_features, (1 << cfg.rr_bits) - 1))

    def forward(self, x_int8):
        """x_int8: normalised beats (N, L) as integers (any dtype), followed by the RR thermometer
        bits when the config has an RR path -> logits (N, classes)."""
        x = x_int8.to(torch.float32)
        length = self.cfg.input_length
        rr = x[:, length:]
        x = x[:, :length].unsqueeze(1) * INPUT_SCALE
        for b in self.blocks:
            x = b(x)
        logits = x.flatten(1)
        if self.cfg.rr_bits:
            logits = logits + rr @ self._rr_weights().flatten(1).t()
        return logits

    def logit_unit(self):
        """Float value of one integer logit step: the logits layer's alpha times its input step."""
        alpha = self.blocks[-1].conv.alphas()[0]
        return float(alpha) * self.act_steps()[-1] if self.quant else 1.0

    def _rr_cumulative(self):
        """(classes, features, 2^b - 1): the table entries of codes 1.. in logit units (QAT: rounded, STE)."""
        c = torch.cumsum(self.rr_w, -1) / self.logit_unit()
        return ste(c, round_half_up(c)) if self.quant else c

    def _rr_weights(self):
        c = self._rr_cumulative()
        return torch.diff(c, dim=-1, prepend=torch.zeros_like(c[..., :1])) * self.logit_unit()

    def rr_table(self):
        """Integer RR table (classes, features, 2^b) in logit units; entry 0 (code 0) is 0."""
        c = self._rr_cumulative().detach()
        return torch.cat([torch.zeros_like(c[..., :1]), c], -1).to(torch.int64)

    def act_steps(self):
        """Activation step of the tensor entering each block (INPUT_SCALE for the first)."""
        steps = [INPUT_SCALE]
        for b in self.blocks[:-1]:
            steps.append(float(b.act.step.detach().abs() + 1e-6))
        return steps
