"""Compile a model file into the engine's schedule: passes, ROM images, bank sizes, cycle counts.

The accelerator is one time-multiplexed ternary grouped-conv engine with ``parallel`` (P) lanes.
A *pass* computes P output channels of one group of one conv over all output positions; the P
lanes share every input read (they belong to the same group) and each lane adds, subtracts or
skips it according to its 2-bit weight code. A depthwise pass (MUX-skip blocks) computes one
channel; with P > 1 its lanes take consecutive output positions (a polyphase pass, see
``_add_poly_pass``), so they still share every read.

Feature maps live in three banks: 0 = the normalised input (signed 8-bit), 1 and 2 = ping-pong
activation banks (unsigned ``act_bits``), address ``channel * length + position``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ternecg.errors import TernEcgError
from ternecg.golden.spec.config import MuxSpec
from ternecg.golden.spec.modelfile import IntModel

from .params import model_id
from .shuffle import lane_addresses, slot

MODE_PLAIN, MODE_DW, MODE_GRP, MODE_FINAL = 0, 1, 2, 3
MAX_PARALLEL = 16

# Engine timing (hw/engine.py), measured in simulation and asserted equal by the tests:
# a pass is FETCH + LOAD (2 cycles), then one cycle per tap and output position, then one
# cycle in the accumulate stage and one per lane through the serializer; activation passes add
# the activation unit's latency and 2 cycles (MUX-skip stage, drain check);
# logits passes add 1 (drain check). A skipped grouped pass costs FETCH + LOAD.
FETCH_LOAD = 2
ACT_DRAIN_EXTRA = 2
FINAL_DRAIN = 1
SKIP_CYCLES = FETCH_LOAD
END_ADJUST = -1          # the drain check after the last pass is not counted


@dataclass(frozen=True)
class Pass:
    mode: int
    in_bank: int
    out_bank: int
    in_base: int
    lin: int
    cin_g: int
    k: int
    pad: int
    stride: int
    lout: int
    w_base: int
    lanes: int
    act_base: int
    out_base: int
    out_stride: int
    sel_base: int
    layer: int
    poly: int = 0          # lanes are NB consecutive output positions of one depthwise channel
    t_step: int = 1        # output positions per loop step t (NB for polyphase depthwise passes)
    length: int = 0        # true output length (the MUX-skip GAP divisor)

    @property
    def taps(self):
        return self.cin_g * self.k

    @property
    def macs(self):
        """Useful multiply-accumulates (a polyphase pass also steps over the zero-padded taps
        of its shifted kernels)."""
        if self.poly:
            s = self.stride // self.t_step
            return self.length * (self.taps - s * (self.t_step - 1))
        return self.lout * self.taps * self.lanes


@dataclass
class Schedule:
    parallel: int
    act_bits: int
    passes: list = field(default_factory=list)
    weights: list = field(default_factory=list)       # ROM words, P x 2-bit codes (lane 0 = LSBs)
    thresholds: list = field(default_factory=list)    # per activation channel: 2^b - 1 ints
    bias: list = field(default_factory=list)          # logits layer
    model_id: int = 0                                 # hw.params.model_id of the model file
    bank_depth: list = field(default_factory=lambda: [0, 0, 0])
    acc_width: int = 2
    input_length: int = 0
    n_classes: int = 0
    mux_channels: int = 0                             # select bits needed (widest MUX block)
    adders: int = 0
    phases: list = field(default_factory=list)        # what the engine's sequencer ROM holds

    def field_widths(self):
        """Bits needed per pass field (the schedule ROM layout)."""
        w = {}
        for name in Pass.__dataclass_fields__:
            hi = max(getattr(p, name) for p in self.passes)
            w[name] = max(1, int(hi).bit_length())
        return w


def _conv_words(lanes_codes):
    """ROM words for one pass: rows in (input channel, tap) order; lane l in bits 2l..2l+1."""
    words = []
    cin_g, k = lanes_codes[0].shape
    for c in range(cin_g):
        for j in range(k):
            word = 0
            for lane, code in enumerate(lanes_codes):
                word |= (int(code[c, j]) & 3) << (2 * lane)
            words.append(word)
    return words


def check_parallel(model: IntModel, parallel):
    if not isinstance(parallel, int) or isinstance(parallel, bool) or not 1 <= parallel <= MAX_PARALLEL:
        raise TernEcgError(f"parallel = {parallel!r} must be an integer in 1..{MAX_PARALLEL}")
    for layer in model.layers:
        specs = [layer.spec.grp] if isinstance(layer.spec, MuxSpec) else [layer.spec]
        for s in specs:
            if not s.final and s.cout_g % parallel:
                ok = [p for p in range(1, MAX_PARALLEL + 1) if _fits(model, p)]
                raise TernEcgError(
                    f"parallel = {parallel} does not divide the {s.cout_g} output channels per group "
                    f"of layer {s.name}; valid settings for this model: {ok}")


def _fits(model, p):
    for layer in model.layers:
        s = layer.spec.grp if isinstance(layer.spec, MuxSpec) else layer.spec
        if not s.final and s.cout_g % p:
            return False
    return True


def compile_schedule(model: IntModel, parallel=1) -> Schedule:
    check_parallel(model, parallel)
    cfg = model.cfg
    sch = Schedule(parallel=parallel, act_bits=cfg.act_bits, input_length=cfg.input_length,
                   n_classes=len(cfg.classes), adders=parallel, model_id=model_id(model.sha256))
    sch.bank_depth[0] = cfg.input_length
    in_bank = 0
    for li, layer in enumerate(model.layers):
        out_bank = 1 if in_bank != 1 else 2
        if isinstance(layer.spec, MuxSpec):
            spec = layer.spec
            sch.mux_channels = max(sch.mux_channels, spec.cout)
            g = spec.grp.groups
            # depthwise branch: one pass per channel (-> shuffled slot of the block output); with
            # several lanes, the lanes compute NB consecutive output positions (polyphase)
            nb = polyphase_lanes(spec.lout, parallel)
            for c in range(spec.cout):
                base = slot(c, spec.cout, g, spec.shuffle) * spec.lout
                if nb > 1:
                    _add_poly_pass(sch, layer.dw, c, nb, in_bank, out_bank, li, base)
                else:
                    _add_pass(sch, MODE_DW, layer.dw, [c], in_bank, out_bank, li,
                              base_stride=(base, spec.lout), sel_base=c)
            for oc0 in range(0, spec.cout, parallel):
                lanes = list(range(oc0, oc0 + parallel))
                _add_pass(sch, MODE_GRP, layer.grp, lanes, in_bank, out_bank, li,
                          base_stride=lane_addresses(oc0, parallel, spec.cout, g, spec.shuffle, spec.lout),
                          sel_base=oc0)
            depth = spec.cout * spec.lout
        else:
            s = layer.spec
            if s.final:
                lanes_all = list(range(s.cout))
                for oc0 in range(0, s.cout, parallel):
                    lanes = lanes_all[oc0:oc0 + parallel]
                    _add_pass(sch, MODE_FINAL, layer, lanes, in_bank, 0, li, base_stride=(0, 0),
                              sel_base=oc0)
                sch.bias = [int(b) for b in layer.bias.tolist()]
                depth = 0
            else:
                for oc0 in range(0, s.cout, parallel):
                    lanes = list(range(oc0, oc0 + parallel))
                    _add_pass(sch, MODE_PLAIN, layer, lanes, in_bank, out_bank, li,
                              base_stride=lane_addresses(oc0, parallel, s.cout, s.groups, s.shuffle, s.lout),
                              sel_base=oc0)
                depth = s.cout * s.lout
        if depth:
            sch.bank_depth[out_bank] = max(sch.bank_depth[out_bank], depth)
            in_bank = out_bank
    sch.acc_width = max(_acc_bits(layer) for layer in model.layers)
    sch.phases = _phases(sch)
    assert list(iterate_passes(sch.phases)) == sch.passes, "phase counters disagree with the passes"
    return sch


def _acc_bits(layer):
    if isinstance(layer.spec, MuxSpec):
        return max(layer.dw.acc_bits, layer.grp.acc_bits)
    return layer.acc_bits


def _add_pass(sch, mode, conv, lanes, in_bank, out_bank, li, base_stride, sel_base):
    s = conv.spec
    gi = lanes[0] // s.cout_g
    assert all(l // s.cout_g == gi for l in lanes), "lanes of a pass must share a group"
    k = s.kernels[gi]
    act_base = len(sch.thresholds)
    if mode != MODE_FINAL:
        sch.thresholds.extend([[int(v) for v in conv.thresholds[oc].tolist()] for oc in lanes])
    w_base = len(sch.weights)
    sch.weights.extend(_conv_words([conv.codes[oc] for oc in lanes]))
    sch.passes.append(Pass(
        mode=mode, in_bank=in_bank, out_bank=out_bank, in_base=gi * s.cin_g * s.lin, lin=s.lin,
        cin_g=s.cin_g, k=k, pad=(k // 2 if s.pad == "same" else 0), stride=s.stride, lout=s.lout,
        w_base=w_base, lanes=len(lanes), act_base=act_base, out_base=base_stride[0],
        out_stride=base_stride[1], sel_base=sel_base, layer=li, length=s.lout))


def polyphase_lanes(lout, parallel):
    """Lanes of a polyphase depthwise pass: the largest divisor of the output length <= parallel."""
    return max(d for d in range(1, parallel + 1) if lout % d == 0)


def _add_poly_pass(sch, conv, c, nb, in_bank, out_bank, li, out_base):
    """Depthwise channel c with its NB lanes on output positions t0 .. t0+NB-1 of each block.

    All lanes read the same input (a block's window of ``s*(NB-1) + k`` samples): lane l applies
    the kernel shifted by ``s*l`` taps, so row r of the pass's weights holds ``w[r - s*l]`` for
    lane l (zero outside the kernel). The engine runs it as a conv with that extended kernel and
    stride ``s*NB``; nothing in the datapath is specific to depthwise."""
    s = conv.spec
    k, stride = s.kernels[0], s.stride
    taps = stride * (nb - 1) + k
    w = conv.codes[c][0]
    lanes = []
    for l in range(nb):
        row = [int(w[r - stride * l]) if 0 <= r - stride * l < k else 0 for r in range(taps)]
        lanes.append(np.array([row], dtype=np.int64))
    act_base = len(sch.thresholds)
    sch.thresholds.append([int(v) for v in conv.thresholds[c].tolist()])
    w_base = len(sch.weights)
    sch.weights.extend(_conv_words(lanes))
    sch.passes.append(Pass(
        mode=MODE_DW, in_bank=in_bank, out_bank=out_bank, in_base=c * s.lin, lin=s.lin, cin_g=1,
        k=taps, pad=k // 2, stride=stride * nb, lout=s.lout // nb, w_base=w_base, lanes=nb,
        act_base=act_base, out_base=out_base, out_stride=1, sel_base=c, layer=li,
        poly=1, t_step=nb, length=s.lout))


def pass_cycles(p: Pass, act_latency):
    """Cycles of one executed pass (see the timing notes at the top)."""
    base = FETCH_LOAD + p.lout * p.taps + 1 + p.lanes
    return base + (FINAL_DRAIN if p.mode == MODE_FINAL else act_latency + ACT_DRAIN_EXTRA)


def skipped(p: Pass, selects):
    """A grouped MUX-skip pass is skipped when all its lanes select the depthwise branch."""
    return (p.mode == MODE_GRP and selects is not None
            and all(selects[p.layer][p.sel_base + l] for l in range(p.lanes)))


# ---- phases: the sequencer's compact form of the pass list -------------------------------------
#
# A phase is one conv layer, or one branch of a MUX-skip block. Its passes are ordered by
# (group gi, pass pj within the group); every per-pass value is a counter the engine updates at
# the end of a pass, so the sequencer holds one small descriptor per phase (a few LUTs) instead
# of one per pass:
#
#   in_base   += in_pass_step  (+ in_group_step when the group changes)
#   out_base  += out_pass_step, or out_group_base += out_group_step and out_base = out_group_base
#   w_start   += rows[kernel index]        sel += lanes        act += lanes (activation passes)
#
# Channel shuffle only changes the phase constants out_pass_step / out_group_step / out_stride.

PHASE_FIELDS = ("mode", "in_bank", "out_bank", "lin", "lout", "cin_g", "stride", "lanes", "layer",
                "n_groups", "passes_per_group", "multi_kernel", "in_pass_step", "in_group_step",
                "out_pass_step", "out_group_step", "out_stride", "poly", "t_step", "length")


@dataclass(frozen=True)
class Phase:
    mode: int
    in_bank: int
    out_bank: int
    lin: int
    lout: int
    cin_g: int
    stride: int
    lanes: int
    layer: int
    n_groups: int
    passes_per_group: int
    multi_kernel: int
    in_pass_step: int
    in_group_step: int
    out_pass_step: int
    out_group_step: int
    out_stride: int
    poly: int
    t_step: int
    length: int
    kernels: tuple
    pads: tuple

    @property
    def passes(self):
        return self.n_groups * self.passes_per_group


def _phases(sch):
    """Group the passes into phases and derive the counter steps (checked by iterate_passes)."""
    phases = []
    i = 0
    passes = sch.passes
    while i < len(passes):
        p0 = passes[i]
        n = 1
        while i + n < len(passes) and (passes[i + n].layer, passes[i + n].mode) == (p0.layer, p0.mode):
            n += 1
        run = passes[i:i + n]
        if p0.mode == MODE_DW:
            # one lane per channel; outputs grouped as the block's shuffle groups
            g = next((q.out_stride // q.lout for q in passes if q.layer == p0.layer and q.mode == MODE_GRP), 1)
            shuffled = len(run) > 1 and run[1].out_base != run[0].out_base + run[0].length
            n_groups = g if shuffled else 1
            ppg = n // n_groups
            kernels, multi = (p0.k,), 0
            in_pass, in_group = p0.lin, 0
            out_pass = (g if shuffled else 1) * p0.length
            out_group = p0.length if shuffled else 0
        else:
            groups = []
            for q in run:
                if not groups or q.in_base != groups[-1][0].in_base:
                    groups.append([q])
                else:
                    groups[-1].append(q)
            n_groups, ppg = len(groups), len(groups[0])
            kernels = tuple(grp[0].k for grp in groups)
            multi = int(len(set(kernels)) > 1)
            if not multi:
                kernels = kernels[:1]
            in_pass, in_group = 0, (groups[1][0].in_base - groups[0][0].in_base) if n_groups > 1 else 0
            out_pass = (run[1].out_base - run[0].out_base) if ppg > 1 else 0
            out_group = (groups[1][0].out_base - groups[0][0].out_base) if n_groups > 1 else 0
        pads = tuple(p0.pad for _ in kernels) if p0.poly else tuple(k // 2 if p0.pad else 0 for k in kernels)
        phases.append(Phase(
            mode=p0.mode, in_bank=p0.in_bank, out_bank=p0.out_bank, lin=p0.lin, lout=p0.lout,
            cin_g=p0.cin_g, stride=p0.stride, lanes=p0.lanes, layer=p0.layer, n_groups=n_groups,
            passes_per_group=ppg, multi_kernel=multi, in_pass_step=in_pass, in_group_step=in_group,
            out_pass_step=out_pass, out_group_step=out_group, out_stride=p0.out_stride,
            poly=p0.poly, t_step=p0.t_step, length=p0.length, kernels=kernels, pads=pads))
        i += n
    return phases


def iterate_passes(phases):
    """The engine's sequencer counters, in Python: yields the Pass of every step."""
    w_start = act = 0
    for ph in phases:
        in_base = out_base = out_group_base = sel = 0
        for gi in range(ph.n_groups):
            for pj in range(ph.passes_per_group):
                kx = gi if ph.multi_kernel else 0
                k, pad = ph.kernels[kx], ph.pads[kx]
                yield Pass(mode=ph.mode, in_bank=ph.in_bank, out_bank=ph.out_bank, in_base=in_base,
                           lin=ph.lin, cin_g=ph.cin_g, k=k, pad=pad, stride=ph.stride, lout=ph.lout,
                           w_base=w_start, lanes=ph.lanes,
                           act_base=act, out_base=out_base, out_stride=ph.out_stride,
                           sel_base=sel, layer=ph.layer, poly=ph.poly, t_step=ph.t_step,
                           length=ph.length)
                w_start += ph.cin_g * k
                step = 1 if ph.poly else ph.lanes      # channels per pass
                sel += step
                if ph.mode != MODE_FINAL:
                    act += step
                if pj == ph.passes_per_group - 1:
                    in_base += ph.in_pass_step + ph.in_group_step
                    out_group_base += ph.out_group_step
                    out_base = out_group_base
                else:
                    in_base += ph.in_pass_step
                    out_base += ph.out_pass_step


def cycles(sch: Schedule, act_latency, selects=None):
    """Analytical engine cycles of one beat: from the first pass's fetch to the cycle handing the
    last logit to the head, inclusive (what the accelerator reports in ``o.payload.cycles``).

    ``selects``: {layer index: sequence of MUX select bits} of the beat (golden trace);
    ``None`` gives the worst case (no pass skipped)."""
    total = END_ADJUST
    for p in sch.passes:
        total += SKIP_CYCLES if skipped(p, selects) else pass_cycles(p, act_latency)
    return total
