"""Independent MAC count of a topology with ptflops (the MSGC paper's tool), for cross-checking.

The counting model has only convolutions (one nn.Conv1d per group, with that group's kernel; dense
layers as a 'valid' conv over the whole map), so ptflops' total is exactly the multiply-accumulates.
"""

import torch
from torch import nn

from .spec.config import MuxSpec


class _Groups(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        pad = lambda k: k // 2 if spec.pad == "same" else 0
        self.convs = nn.ModuleList(nn.Conv1d(spec.cin_g, spec.cout_g, k, spec.stride, pad(k), bias=False)
                                   for k in spec.kernels)

    def forward(self, x):
        s = self.spec
        return torch.cat([conv(x[:, i * s.cin_g:(i + 1) * s.cin_g]) for i, conv in enumerate(self.convs)], 1)


class _Mux(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.dw, self.grp = _Groups(spec.dw), _Groups(spec.grp)

    def forward(self, x):
        return self.dw(x) + self.grp(x)


def ptflops_macs(cfg):
    from ptflops import get_model_complexity_info
    net = nn.Sequential(*[_Mux(s) if isinstance(s, MuxSpec) else _Groups(s) for s in cfg.layers])
    macs, _ = get_model_complexity_info(net, (1, cfg.input_length), as_strings=False,
                                        print_per_layer_stat=False, verbose=False, backend="pytorch")
    return int(macs)
