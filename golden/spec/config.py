"""Model configurations: named JSON files describing a topology, validated into layer specs.

A config lists layers; each is one of

- ``{"type": "conv", "conv": KIND, "out": C, "kernel": k | "kernels": [k per group], "groups": g, "stride": s}``
  with KIND one of ``regular`` (groups = 1), ``group`` (one kernel for all groups, no shuffle),
  ``msgc`` (a kernel per group, channel shuffle), ``msgc_noshuffle``, ``gpw`` (grouped pointwise,
  kernel 1, interleaved = shuffled outputs);
- ``{"type": "muxskip", "dw_kernel": k, "conv": KIND, "groups": g, "kernels": [...], "stride": s}``:
  a depthwise branch and a grouped branch of the same width as the block input, joined per channel
  by the MUX select (see docs/arithmetic.md);
- ``{"type": "dense", "out": n}``: a fully connected layer over the flattened (channel, position)
  map. The last layer must be dense; it produces the logits (no activation, integer bias).

An optional top-level ``"rr_bits": b`` (1..8) adds the RR-interval path: with each beat the host
sends the three b-bit RR codes of :mod:`ternecg.golden.spec.rr` (local mean over ``"rr_local"``
intervals, default 8), and a table of
``classes x 3 x 2^b`` integers (ternecg.hw.rr_table) adds ``T[class][feature][code]`` to the logits.
With it, ``"rr_template": 1`` adds a fourth b-bit code per beat, the beat's distance from its
record's running average beat (:class:`ternecg.golden.spec.rr.Template`; ``"rr_template_gate": g``,
1..2^b, default 2^b: only beats with a code below g update the average), and a fourth table;
``"rr_irregular": 1`` adds one more code, the rhythm's irregularity over the local window
(:func:`ternecg.golden.spec.rr.irregular_codes`), after the template code when both are set.

:func:`load_config` returns a :class:`ModelConfig` whose ``layers`` are :class:`ConvSpec` /
:class:`MuxSpec` objects with every length and channel count resolved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ternecg.errors import TernEcgError
from ternecg.paths import configs_dir

CONFIG_DIR = configs_dir()
CONV_KINDS = ("regular", "group", "msgc", "msgc_noshuffle", "gpw")
#: task -> class names in logit order (``aami4``: the AAMI EC57 classes, Q beats excluded)
TASKS = {"binary": ("N", "abnormal"), "six": ("N", "V", "F", "/", "f", "other"), "aami4": ("N", "S", "V", "F")}
INPUT_BITS = 8          # the normaliser's output: signed int8
MAX_ACC_BITS = 24       # widest accumulator the hardware generator accepts
RR_FEATURES = 3         # RR codes per beat (ternecg.golden.spec.rr.FEATURES)
RR_MAX_FEATURES = 5     # with the template and irregularity codes (rr_template, rr_irregular)


@dataclass(frozen=True)
class ConvSpec:
    """One ternary convolution (or dense layer): everything the integer arithmetic needs."""
    name: str
    kind: str
    cin: int
    cout: int
    groups: int
    kernels: tuple          # one odd kernel size per group
    stride: int
    pad: str                # "same" (zero padding k//2 per group) or "valid" (dense layers)
    shuffle: bool           # output channel shuffle (ShuffleNet order) after this layer
    lin: int
    lout: int
    final: bool = False     # logits layer: no activation, integer bias

    @property
    def cin_g(self):
        return self.cin // self.groups

    @property
    def cout_g(self):
        return self.cout // self.groups

    def kernel_of(self, oc):
        return self.kernels[oc // self.cout_g]

    @property
    def weights(self):
        return sum(self.cout_g * self.cin_g * k for k in self.kernels)

    @property
    def macs(self):
        return self.weights * self.lout


@dataclass(frozen=True)
class MuxSpec:
    """A MUX-skip block: depthwise branch ``dw`` and grouped branch ``grp`` over the same input."""
    name: str
    dw: ConvSpec
    grp: ConvSpec
    shuffle: bool

    @property
    def cin(self):
        return self.dw.cin

    @property
    def cout(self):
        return self.dw.cout

    @property
    def lin(self):
        return self.dw.lin

    @property
    def lout(self):
        return self.dw.lout

    @property
    def weights(self):
        return self.dw.weights + self.grp.weights

    @property
    def macs(self):
        return self.dw.macs + self.grp.macs


@dataclass(frozen=True)
class ModelConfig:
    name: str
    task: str
    input_length: int
    act_bits: int
    layers: tuple
    description: str = ""
    raw: dict = field(default_factory=dict, compare=False, repr=False)
    rr_bits: int = 0        # RR-code width; 0: no RR path
    rr_local: int = 8       # RR intervals in the local mean of the codes (ternecg.golden.rr)
    rr_template: int = 0    # 1: a fourth code, the distance from the running template
    rr_template_gate: int = 0   # template updated by codes below it (2^rr_bits: every beat)
    rr_irregular: int = 0   # 1: one more code, the rhythm's irregularity

    @property
    def rr_features(self):
        """Number of RR codes per beat (0 without the RR path)."""
        return RR_FEATURES + self.rr_template + self.rr_irregular if self.rr_bits else 0

    @property
    def classes(self):
        return TASKS[self.task]

    @property
    def weights(self):
        return sum(layer.weights for layer in self.layers)

    @property
    def macs(self):
        return sum(layer.macs for layer in self.layers)


def _err(where, msg):
    raise TernEcgError(f"config {where}: {msg}")


def _int(d, key, where, lo=1, hi=None, default=None):
    v = d.get(key, default)
    if v is None:
        _err(where, f"missing field '{key}'")
    if not isinstance(v, int) or isinstance(v, bool) or v < lo or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        _err(where, f"field '{key}' = {v!r} must be an integer {rng}")
    return v


def _conv(d, where, name, cin, lin, cout, kind, acc_in_bound):
    if kind not in CONV_KINDS:
        _err(where, f"unknown conv type {kind!r}; expected one of {', '.join(CONV_KINDS)}")
    groups = 1 if kind == "regular" else _int(d, "groups", where)
    if "kernels" in d:
        kernels = d["kernels"]
        if not isinstance(kernels, list) or not all(isinstance(k, int) for k in kernels):
            _err(where, f"field 'kernels' = {kernels!r} must be a list of integers")
        if len(kernels) != groups:
            _err(where, f"field 'kernels' has {len(kernels)} entries but groups = {groups}")
    else:
        kernels = [1 if kind == "gpw" else _int(d, "kernel", where)] * groups
    if kind in ("group", "gpw") and len(set(kernels)) != 1:
        _err(where, f"conv type {kind!r} uses one kernel size for all groups, got {kernels}")
    if kind == "gpw" and kernels[0] != 1:
        _err(where, f"conv type 'gpw' is pointwise: kernel must be 1, got {kernels[0]}")
    for k in kernels:
        if k < 1 or k % 2 == 0:
            _err(where, f"kernel size {k} must be odd and >= 1 (centred 'same' padding)")
    stride = _int(d, "stride", where, default=1, hi=8)
    shuffle = kind in ("msgc", "gpw")
    if cin % groups or cout % groups:
        _err(where, f"channels in={cin} out={cout} must be multiples of groups = {groups}")
    if shuffle and cout % (groups * groups):
        _err(where, f"out = {cout} channels must be a multiple of groups^2 = {groups * groups} "
                    f"for the channel shuffle of conv type {kind!r}")
    lout = (lin - 1) // stride + 1
    spec = ConvSpec(name, kind, cin, cout, groups, tuple(kernels), stride, "same", shuffle, lin, lout)
    return spec, _check_acc(where, spec, acc_in_bound)


def _check_acc(where, spec, in_bound):
    fan_in = max(spec.cin_g * k for k in spec.kernels)
    bound = fan_in * in_bound
    need = bound.bit_length() + 2           # sign bit + threshold headroom, as modelfile.acc_bits_needed
    if need > MAX_ACC_BITS:
        _err(where, f"worst-case accumulator |acc| <= {bound} needs {need} bits, "
                    f"more than the {MAX_ACC_BITS} the hardware supports; use fewer channels, "
                    f"smaller kernels or fewer activation bits")
    return bound


def parse_config(d, source="<dict>"):
    """Validate a config dict; every error names the field and the bad value."""
    if not isinstance(d, dict):
        _err(source, "must be a JSON object")
    name = d.get("name")
    if not isinstance(name, str) or not name:
        _err(source, f"field 'name' = {name!r} must be a non-empty string")
    task = d.get("task", "binary")
    if task not in TASKS:
        _err(source, f"field 'task' = {task!r} must be one of {', '.join(TASKS)}")
    length = _int(d, "input_length", source, lo=8, hi=4096)
    act_bits = _int(d, "act_bits", source, lo=1, hi=8)
    raw_layers = d.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        _err(source, "field 'layers' must be a non-empty list")
    q = (1 << act_bits) - 1
    layers = []
    c, lin, in_bound = 1, length, 1 << (INPUT_BITS - 1)
    for i, ld in enumerate(raw_layers):
        where = f"{source} layer {i}"
        if not isinstance(ld, dict):
            _err(where, "must be a JSON object")
        typ = ld.get("type")
        last = i == len(raw_layers) - 1
        if typ == "conv":
            cout = _int(ld, "out", where)
            spec, _ = _conv(ld, where, f"L{i}_conv", c, lin, cout, ld.get("conv"), in_bound)
            layers.append(spec)
        elif typ == "muxskip":
            dwk = _int(ld, "dw_kernel", where)
            if dwk % 2 == 0:
                _err(where, f"field 'dw_kernel' = {dwk} must be odd")
            stride = _int(ld, "stride", where, default=1, hi=8)
            dw = {"groups": c, "kernel": dwk, "stride": stride}
            dws, _ = _conv(dw, where + " depthwise", f"L{i}_dw", c, lin, c, "group", in_bound)
            grs, _ = _conv(ld, where, f"L{i}_grp", c, lin, c, ld.get("conv"), in_bound)
            layers.append(MuxSpec(f"L{i}_mux", dws, grs, grs.shuffle))
        elif typ == "dense":
            cout = _int(ld, "out", where)
            if last and cout != len(TASKS[task]):
                _err(where, f"the last dense layer has out = {cout} but task {task!r} "
                            f"has {len(TASKS[task])} classes")
            spec = ConvSpec(f"L{i}_dense", "regular", c, cout, 1, (lin,), 1, "valid", False,
                            lin, 1, final=last)
            _check_acc(where, spec, in_bound)
            layers.append(spec)
        else:
            _err(where, f"unknown layer type {typ!r}; expected conv, muxskip or dense")
        c, lin, in_bound = layers[-1].cout, layers[-1].lout, q
    if not (isinstance(layers[-1], ConvSpec) and layers[-1].final):
        _err(source, "the last layer must be a dense layer producing the class logits")
    rr_bits = _int(d, "rr_bits", source, lo=0, hi=8, default=0)
    rr_local = _int(d, "rr_local", source, lo=1, hi=1024, default=8)
    rr_template = _int(d, "rr_template", source, lo=0, hi=1, default=0)
    if rr_template and not rr_bits:
        _err(source, "field 'rr_template' = 1 needs the RR path: set 'rr_bits' too")
    gate = _int(d, "rr_template_gate", source, lo=1, hi=1 << max(rr_bits, 1), default=1 << rr_bits) \
        if rr_template else 0
    rr_irregular = _int(d, "rr_irregular", source, lo=0, hi=1, default=0)
    if rr_irregular and not rr_bits:
        _err(source, "field 'rr_irregular' = 1 needs the RR path: set 'rr_bits' too")
    return ModelConfig(name, task, length, act_bits, tuple(layers), d.get("description", ""), d,
                       rr_bits=rr_bits, rr_local=rr_local, rr_template=rr_template, rr_template_gate=gate,
                       rr_irregular=rr_irregular)


def load_config(name_or_path):
    """Load a config by name (a file in golden/configs) or by path."""
    p = Path(name_or_path)
    if not p.suffix:
        p = CONFIG_DIR / f"{name_or_path}.json"
    if not p.is_file():
        known = ", ".join(sorted(x.stem for x in CONFIG_DIR.glob("*.json")))
        raise TernEcgError(f"config {name_or_path!r} not found (looked at {p}); known configs: {known}")
    try:
        d = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise TernEcgError(f"config {p}: not valid JSON ({e})") from None
    return parse_config(d, source=str(p.name))
