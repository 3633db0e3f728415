"""The schedule compiler's search: the geometry of a lane count and each conv's plan on it.

:func:`choose_geometry` picks the streams x lanes and the memories per bank (the area) of P lanes,
and each conv's kind (hw/schedule.py, "kinds") or two segments of it (:func:`_split_options`),
from the exact cycle model of :mod:`ternecg.hw.schedule`; :func:`ternecg.hw.schedule.compile_schedule`
builds the schedule from its choice.
"""

from __future__ import annotations

from ternecg.errors import TernEcgError
from ternecg.golden.spec.modelfile import IntModel

from .schedule import (KIND_CHAN, KIND_DWPOS, KIND_POS, MAX_MEMS, MODE_DW, MODE_FINAL, MODE_GRP,
                       MODE_PLAIN, Geometry, _contexts, _conv_phases, _plan, act_latency_of,
                       check_parallel, conflict_free, phase_cycles, ratio_target, stall_free)

__all__ = ["choose_geometry"]


def _kinds(mode, spec, R, g_shuffle=0, extra=False):
    """Candidate kinds ``(kind, stream_blocks)`` of a conv for R streams. A depthwise conv whose
    output is shuffled in ``g_shuffle`` groups of ``cg`` channels also gets ``(KIND_CHAN, k)`` for
    every ``k >= 2`` whole groups that fit R streams (``k * cg <= R``): a block then spans k
    groups, where ``(KIND_CHAN, 1)`` leaves ``R - cg`` streams idle in every group; with
    ``extra`` (only where the target is missed otherwise: :func:`choose_geometry`) and two or more
    streams, also ``(KIND_DWPOS, 1)``, every stream on positions of one channel."""
    if mode == MODE_DW or spec.cin_g == 1 and spec.cout_g == 1 and spec.groups > 1:
        cg = spec.cout // g_shuffle if g_shuffle else spec.cout
        out = [(KIND_CHAN, 1)] + [(KIND_CHAN, k) for k in range(2, (g_shuffle or 1) + 1) if k * cg <= R]
        return out + ([(KIND_DWPOS, 1)] if extra and R > 1 else [])
    out = [(KIND_POS, rb) for rb in range(1, R + 1) if R % rb == 0]
    if mode == MODE_FINAL:          # the logits leave in class order: all streams on blocks
        out = [(KIND_POS, R)]
    return out


def _plan_for(model, R, L, M, spanning=True, extra=False):
    """(worst cycles, Geometry, plan) with the fastest conflict-free plan entry per conv, or None;
    ``spanning=False``: depthwise blocks of one shuffle group only (kind ``(chan, 1)``);
    ``extra``: a conv's positions may also be split in two segments of different kinds
    (:func:`_split_options`), and a depthwise conv may put every stream on one channel's positions
    (kind ``(dwpos, 1)``, :func:`_kinds`)."""
    geo = Geometry(R * L, R, L, M)
    lat = act_latency_of(model)
    b = model.cfg.act_bits
    kinds = []
    total = 0

    def usable(ph):
        return conflict_free(ph, geo) and stall_free(ph, geo, b)

    for ctx in _contexts(model, M):
        li, mode, conv, g = ctx[:4]
        options = []
        for kind in _kinds(mode, conv.spec, R, g, extra=extra):
            if kind[0] == KIND_CHAN and kind[1] > 1 and not spanning:
                continue
            (ph,) = _conv_phases(ctx, geo, kind)
            if usable(ph):
                options.append((phase_cycles(ph, geo, lat), 1, kind))
        if extra:
            options += _split_options(ctx, geo, usable, lat)
        if not options:
            return None
        best = min(options, key=lambda o: o[:2])
        kinds.append(best[2])
        total += best[0]
    return total, geo, kinds


def _split_options(ctx, geo, usable, lat):
    """Two-segment plans of a conv (positions, KIND_POS): the first ``T`` positions with ``rt``
    streams per block on positions (``T``: the most whole tiles), the rest with fewer: e.g. at 7 x 1
    lanes a group of 6 channels x 30 positions takes 6 x 4 tiles of 7 positions and 2 tiles of its 6
    channels (26 tiles) instead of 6 x 5 (30). Each segment is a phase of its own (its START and
    drain cost cycles, its blocks weight rows)."""
    li, mode, conv, g = ctx[:4]
    if mode not in (MODE_PLAIN, MODE_GRP) or geo.streams == 1:
        return []
    pos = [k for k in _kinds(mode, conv.spec, geo.streams, g) if k[0] == KIND_POS]
    lout = conv.spec.lout
    out = []
    for k1 in pos:
        rt1 = geo.streams // k1[1]
        T = lout // rt1 * rt1
        if rt1 == 1 or T in (0, lout):
            continue
        for k2 in pos:
            if geo.streams // k2[1] >= rt1:
                continue
            entry = ((k1[0], k1[1], 0, T), (k2[0], k2[1], T, lout))
            phases = _conv_phases(ctx, geo, entry)
            if all(usable(ph) for ph in phases):
                out.append((sum(phase_cycles(ph, geo, lat) for ph in phases), 2, entry))
    return out


def _best_plan(model, R, L, spanning=True):
    """The fastest conflict-free plan for R streams x L lanes; fewest memories on ties."""
    best = None
    M = 1
    while M <= MAX_MEMS:
        if M >= R:
            plan = _plan_for(model, R, L, M, spanning)
            if plan is not None and (best is None or plan[0] < best[0]):
                best = plan
        M *= 2
    return best


_GEOMETRIES = {}


def _key(model, parallel):
    """What a choice depends on: the topology, the input length, the activation bits, P."""
    return (tuple(layer.spec for layer in model.layers), model.cfg.input_length, model.cfg.act_bits,
            parallel)


def choose_geometry(model: IntModel, parallel):
    """(Geometry, plan) for ``parallel`` lanes.

    1. The fewest streams whose plan reaches :func:`ratio_target`, judged with one kind per conv
       and depthwise blocks of one shuffle group; if none does, the fastest judged so (fewer
       streams, then fewer memories, on ties). Then, on that geometry, each conv's fastest kind,
       depthwise blocks of whole groups included: they only ever save cycles, never widen the
       geometry, whose streams and memories set the area (on the ECP5 at P = 48, 16 x 3 lanes would
       take 2,224 cycles instead of 8 x 6's 2,317 (as blocks of one group: 2,359; all three with
       one read stage), but 37,563 LUT4 instead of 17,447, and a placement at 24.6 MHz whose
       routing had not converged after 15 minutes).
    2. Where every geometry of P misses the target (the prime lane counts, whose only geometries
       are P x 1 and 1 x P), the pick of a narrower lane count when it is faster with no more
       streams: P = 37 builds P = 36's 6 x 6 lanes (2,881 cycles against 11,488 with 37 x 1),
       and the schedule records the lanes asked for (:attr:`Schedule.lanes_asked`), against which
       the reports count the idle lanes as lost.
    3. If that plan misses the target, on the same geometry and memories: convs split by position
       into two segments (:func:`_split_options`: each segment a phase, with its own weight rows
       and phase-table row) and depthwise convs with every stream on one channel's positions
       (``(dwpos, 1)``: the MUX-skip unit then sums the streams' GAP), where that is faster. So
       they never change the area either (a memory layout that needs more memories per bank is
       not taken: at 8 x 2 lanes the depthwise streams on positions need 32, and the ECP5
       estimate goes from 15,908 to 25,157 LUT4 for 2 % fewer cycles).

    It depends on the topology only (cached per topology and lane count)."""
    check_parallel(model, parallel)
    key = _key(model, parallel)
    if key not in _GEOMETRIES:
        _GEOMETRIES[key] = _choose_geometry(model, parallel)
    return _GEOMETRIES[key]


def _choose_geometry(model: IntModel, parallel):
    geo, kinds = _plain_choice(model, parallel)
    own = _worst_cycles(model, geo, kinds)
    if own > ratio_target(parallel) * model.cfg.macs / parallel:
        # on the same geometry and memories (the area), splits and depthwise streams on positions
        better = _plan_for(model, geo.streams, geo.lanes, geo.mems, extra=True)
        if better is not None and better[0] < own:
            return better[1], better[2]
    return geo, kinds


_PLAIN = {}


def _plain_choice(model: IntModel, parallel):
    """Steps 1 and 2 of :func:`choose_geometry`: with one kind per conv (cached like it)."""
    key = _key(model, parallel)
    if key in _PLAIN:
        return _PLAIN[key]
    bound = model.cfg.macs / parallel
    results = []
    for R in range(1, parallel + 1):
        if parallel % R == 0:
            best = _best_plan(model, R, parallel // R, spanning=False)
            if best is not None:
                results.append(best)
    if not results:
        raise TernEcgError(f"parallel = {parallel}: no conflict-free geometry for model "
                           f"{model.cfg.name!r}")
    chosen = next((geo for w, geo, _ in results if w / bound <= ratio_target(parallel)), None)  # by R
    missed = chosen is None
    if missed:
        chosen = min(results, key=lambda b: (b[0], b[1].streams, b[1].mems))[1]
    _, geo, kinds = _plan_for(model, chosen.streams, chosen.lanes, chosen.mems)
    if missed:
        # a lane count whose own geometries miss the target (a prime: R x 1 or 1 x P only) takes the
        # pick of a narrower lane count when that is faster with no more streams (the streams set
        # the area): its idle lanes are not built (fewest lanes on ties)
        own = _worst_cycles(model, geo, kinds)
        narrower = []
        for t in range(1, parallel):
            g, k = _plain_choice(model, t)
            if g.streams <= geo.streams:
                narrower.append((_worst_cycles(model, g, k), t, g, k))
        if narrower and min(narrower)[0] < own:
            geo, kinds = min(narrower)[2:]
    _PLAIN[key] = geo, kinds
    return geo, kinds


def _worst_cycles(model, geo, kinds):
    """Worst-case cycles per beat of the plan ``kinds`` on ``geo`` (as :func:`_plan_for` counts them)."""
    lat = act_latency_of(model)
    return sum(phase_cycles(ph, geo, lat) for ph in _plan(model, geo, kinds))
