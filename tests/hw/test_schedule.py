"""The schedule compiler: pass list, phase counters, shuffle remapping, cycle model, errors."""

import pytest
import torch

from ternecg.errors import TernEcgError
from ternecg.golden import integer_ref
from ternecg.golden.spec.config import MuxSpec
from ternecg.hw import schedule as sc
from ternecg.hw.shuffle import lane_addresses, slot


@pytest.mark.parametrize("parallel", [1, 2, 3, 6])
def test_passes_cover_every_mac_once(model, parallel):
    s = sc.compile_schedule(model, parallel)
    worst = sum(p.macs for p in s.passes)
    dw = sum(l.spec.dw.macs for l in model.layers if isinstance(l.spec, MuxSpec))
    assert worst == model.cfg.macs                      # every MAC of the network, no more
    assert len(s.weights) * parallel >= model.cfg.weights
    assert list(sc.iterate_passes(s.phases)) == s.passes  # the hardware counters reproduce it
    assert dw > 0


def test_polyphase_depthwise_passes(model):
    """With several lanes, a depthwise pass puts them on consecutive output positions."""
    s1, s6 = sc.compile_schedule(model, 1), sc.compile_schedule(model, 6)
    dw1 = [p for p in s1.passes if p.mode == sc.MODE_DW]
    dw6 = [p for p in s6.passes if p.mode == sc.MODE_DW]
    assert len(dw1) == len(dw6) and not any(p.poly for p in dw1) and all(p.poly for p in dw6)
    for a, b in zip(dw1, dw6):
        assert b.length == a.lout and b.lout * b.t_step == a.lout and b.macs == a.macs
        assert b.lout * b.taps < a.lout * a.taps          # fewer cycles than one lane
    assert sc.polyphase_lanes(30, 6) == 6 and sc.polyphase_lanes(15, 6) == 5
    assert sc.polyphase_lanes(15, 2) == 1


def test_shuffle_slots_match_golden_permutation():
    for channels, groups in ((18, 3), (16, 4), (8, 2), (9, 3)):
        perm = integer_ref.shuffle_permutation(channels, groups)     # perm[new] = old
        for new, old in enumerate(perm):
            assert slot(old, channels, groups, True) == new
        assert [slot(o, channels, groups, False) for o in range(channels)] == list(range(channels))


def _without_shuffle(model):
    """The same model with every channel shuffle switched off (the ``msgc_noshuffle`` topology)."""
    import copy
    import dataclasses
    from ternecg.golden.spec.config import ConvSpec
    m = copy.copy(model)
    m.layers = []
    for layer in model.layers:
        layer = copy.copy(layer)
        if isinstance(layer.spec, MuxSpec):
            layer.grp = copy.copy(layer.grp)
            layer.grp.spec = dataclasses.replace(layer.grp.spec, shuffle=False)
            layer.spec = dataclasses.replace(layer.spec, grp=layer.grp.spec, shuffle=False)
        elif isinstance(layer.spec, ConvSpec):
            layer.spec = dataclasses.replace(layer.spec, shuffle=False)
        m.layers.append(layer)
    return m


CONSTANTS = {"out_pass_step", "out_group_step", "out_stride"}


@pytest.mark.parametrize("parallel", [1, 3, 6])
def test_shuffle_is_only_constants(model, parallel):
    """Compile the schedule with and without channel shuffle: the phase descriptors (what the
    sequencer runs, phase-table ROM contents) differ only in the three output address constants,
    and for a MUX block's depthwise phase also in how its passes are grouped (g groups of C/g
    passes instead of one group of C: the same passes); the passes differ only in where they
    write: each lane's output channel lands at its shuffled slot."""
    shuffled = [li for li, layer in enumerate(model.layers) if layer.spec.shuffle]
    assert shuffled, "the shipped model has channel shuffles"
    s, s0 = sc.compile_schedule(model, parallel), sc.compile_schedule(_without_shuffle(model), parallel)
    assert len(s.phases) == len(s0.phases) and len(s.passes) == len(s0.passes)
    changed = set()
    for a, b in zip(s.phases, s0.phases):
        differ = {f for f in vars(a) if getattr(a, f) != getattr(b, f)}
        grouping = {"n_groups", "passes_per_group"} if a.mode == sc.MODE_DW else set()
        assert differ <= CONSTANTS | grouping, differ
        assert a.passes == b.passes
        if differ:
            changed.add(a.layer)
    assert changed == set(shuffled)
    assert s.weights == s0.weights and list(sc.iterate_passes(s0.phases)) == s0.passes
    checked = 0
    for p, q in zip(s.passes, s0.passes):
        assert {f for f in vars(p) if getattr(p, f) != getattr(q, f)} <= {"out_base", "out_stride"}
        if p.layer not in shuffled or p.mode == sc.MODE_DW and p.poly:
            continue
        spec = model.layers[p.layer].spec
        groups = spec.grp.groups if isinstance(spec, MuxSpec) else spec.groups
        for lane in range(p.lanes):
            oc = q.out_base // spec.lout + lane             # unshuffled: channel oc at slot oc
            assert p.out_base + lane * p.out_stride == slot(oc, spec.cout, groups, True) * spec.lout
            checked += p.out_base != q.out_base or p.out_stride != q.out_stride
    assert checked > 0
    # the shuffled slot is golden's permutation (test_shuffle_slots_match_golden_permutation)


@pytest.mark.parametrize("bad", [0, 4, 5, 17, -1, "2", 2.0, True])
def test_bad_parallel_is_rejected_with_the_value(model, bad):
    with pytest.raises(TernEcgError) as e:
        sc.compile_schedule(model, bad)
    assert repr(bad) in str(e.value) or str(bad) in str(e.value)


def test_cycle_model_skips_selected_passes(model, beats):
    s = sc.compile_schedule(model, 1)
    worst = sc.cycles(s, 5)
    all_sel = {p.layer: [1] * 64 for p in s.passes if p.mode == sc.MODE_GRP}
    none_sel = {k: [0] * 64 for k in all_sel}
    assert sc.cycles(s, 5, none_sel) == worst
    grp = [p for p in s.passes if p.mode == sc.MODE_GRP]
    assert worst - sc.cycles(s, 5, all_sel) == sum(sc.pass_cycles(p, 5) - sc.SKIP_CYCLES for p in grp)
    tr = integer_ref.forward(model, torch.as_tensor(beats["raw"][:50].astype("int64")))
    for bi in range(50):
        sel = {li: v["select"][bi].tolist() for li, v in tr.mux.items()}
        assert sc.cycles(s, 5, sel) <= worst
