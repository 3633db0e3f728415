"""The schedule compiler: the compiled schedule run in Python equals golden at every setting, no
memory conflicts, bound ratios, the cycle model, shuffle as constants, errors (the choice of the
geometry: tests/hw/test_schedule_search.py).

The hardware runs the same counters (hw/sequencer.py, issue_stage.py, serializer.py) and is
checked against golden and against :func:`ternecg.hw.schedule.cycles` in simulation
(tests/hw/test_engine_settings.py, tests/sim/test_network_settings_sim.py)."""

import copy
import dataclasses

import pytest
import torch

from ternecg.errors import TernEcgError
from ternecg.golden import integer_ref
from ternecg.golden.spec.config import ConvSpec, MuxSpec
from ternecg.hw import schedule as sc
from ternecg.hw.schedule_run import memory_conflicts, run, tiles
from ternecg.hw.shuffle import slot

#: the lane counts issue 17 asks for (every P in 1..MAX_PARALLEL compiles)
SETTINGS = [1, 2, 3, 4, 6, 8, 9, 12, 18, 24, 36]
#: lane counts whose depthwise blocks span whole shuffle groups (13 x 2 and 16 x 2: two groups,
#: 20 x 2: three)
SPANNING = [26, 32, 40]
#: (P, streams) forced: one lane per stream (the prime lane counts' own geometries, which the
#: compiler passes over for a narrower lane count's: 13 x 1 spans two groups, 19 x 1 three)
FORCED = [(13, 13), (19, 19)]
#: lane counts whose plans split a conv's positions in two segments (7 x 1, 7 x 2, 11 x 1, 7 x 3,
#: 8 x 2) or put a depthwise branch's streams on one channel's positions (15 = 5 x 3, and 11)
SPLIT = [7, 14, 11, 21, 15, 16]


@pytest.mark.parametrize("parallel, streams", [(p, None) for p in SETTINGS + SPANNING + SPLIT] + FORCED)
def test_compiled_schedule_equals_golden(model, beats, parallel, streams):
    """The schedule run in Python through the skewed memories, the weight words and the per-stream
    threshold tables gives every layer, select bit and logit of golden, with no memory conflict."""
    s = sc.compile_schedule(model, parallel, streams=streams)
    assert s.geometry.parallel == parallel == s.streams * s.lanes == s.lanes_asked
    assert memory_conflicts(s) == []
    tr = integer_ref.forward(model, torch.as_tensor(beats["raw"][:2].astype("int64")))
    for bi in range(2):
        res = run(s, tr.input[bi].tolist())
        for li in range(len(model.layers) - 1):
            assert res["layers"][li] == tr.layers[li][bi].flatten().tolist(), (parallel, li)
        assert res["logits"] == tr.logits[bi].tolist()
        for li, v in tr.mux.items():
            bits = [int(b) for b in v["select"][bi].tolist()]
            assert res["select"][li][:len(bits)] == bits


@pytest.mark.parametrize("parallel", SETTINGS)
def test_bound_ratio_targets(model, parallel):
    """Worst-case cycles against MACs / lanes: at most 1.10 up to 18 lanes, 1.25 beyond."""
    s = sc.compile_schedule(model, parallel)
    ratio = sc.cycles(s, model.cfg.act_bits + 1) / (model.cfg.macs / parallel)
    assert ratio <= sc.ratio_target(parallel), (parallel, ratio, s.geometry)


@pytest.mark.slow
def test_every_lane_count_compiles(model):
    for p in range(1, sc.MAX_PARALLEL + 1):
        s = sc.compile_schedule(model, p)
        assert s.lanes_asked == p and s.parallel <= p and memory_conflicts(s) == []


def test_tiles_cover_every_output_once(model):
    """Every output of every conv is computed by exactly one (phase, tile, stream, lane) (a conv
    split by position is two phases), and the weight ROM has one row per tap of every block."""
    from ternecg.hw.schedule_run import _outputs
    for p in (1, 6, 36, 32, 19, *SPLIT):
        s = sc.compile_schedule(model, p)
        rows = 0
        seen = {}
        for ph in s.phases:
            conv = seen.setdefault((ph.layer, ph.mode), {})
            for t in tiles(ph):
                for r, l, slot_, pos, ok in _outputs(ph, s.geometry, t):
                    if ok:
                        assert (slot_, pos) not in conv, (p, ph.layer, ph.mode)
                        conv[slot_, pos] = (t.gi, t.b, t.tau, r, l)
            rows += sum(ph.cin_g * ph.taps[gi if ph.multi_kernel else 0] for gi in range(ph.n_groups)) * ph.n_blocks
        for ph in s.phases:
            n = ph.cout * ph.lout if ph.mode != sc.MODE_FINAL else ph.cout
            assert len(seen[ph.layer, ph.mode]) == n
        assert rows == len(s.weights)


def test_depthwise_streams_on_one_channels_positions(model):
    """Where the plan misses the ratio target otherwise, a depthwise branch may put every stream on
    positions of one channel (kind dwpos), on the same geometry and memories: a block is one
    channel, a tile R x L positions (stream r on positions r L .. r L + L - 1, polyphase lanes),
    every stream reads and writes its own memory, and the streams' results are one GAP
    (``gap_shared``; the select bit is the channel's). At 5 x 3 lanes this took P = 15 from 6,370
    cycles (the depthwise blocks of 5 streams on 6 channels) to 6,046, under 1.10; at 8 x 2 it
    would need 32 memories instead of 16, so P = 16 does not use it."""
    s = sc.compile_schedule(model, 15)
    assert (s.streams, s.lanes, s.mems) == (5, 3, 16)
    dw = [ph for ph in s.phases if ph.mode == sc.MODE_DW]
    assert dw and all(ph.kind == sc.KIND_DWPOS and ph.gap_shared for ph in dw)
    for ph in dw:
        assert sc.conflict_free(ph, s.geometry)
        assert ph.n_blocks * ph.n_groups == ph.cout and ph.t_tile_step == 15
        assert ph.stream_t == (0, 3, 6, 9, 12)
        for b in range(ph.n_blocks):
            chans = {sc.lane_channel(ph, _spec(model, ph), 1, b, r, l, s.geometry)[0]
                     for r in range(5) for l in range(3)}
            assert chans == {ph.cout // ph.n_groups + b}
    lat = model.cfg.act_bits + 1
    assert sc.cycles(s, lat) == 6046 and 6046 / (model.cfg.macs / 15) <= sc.ratio_target(15)
    s16 = sc.compile_schedule(model, 16)
    assert s16.mems == 16 and all(ph.kind != sc.KIND_DWPOS for ph in s16.phases)
    assert all(ph.kind != sc.KIND_DWPOS for p in (1, 2, 3, 6, 18, 36, 48)
               for ph in sc.compile_schedule(model, p).phases)


def test_a_conv_split_by_position(model):
    """Where no geometry reaches the ratio target with one kind per conv, a conv's positions may be
    split in two phases: at 7 x 1 lanes the grouped conv of layer 2 (6 channels x 30 positions per
    group) takes 28 positions as 6 blocks x 4 tiles of 7 positions and the last 2 as 2 tiles of
    the 6 channels (7 streams on blocks), 26 tiles instead of 30 per group. The split costs the
    second phase's START and drain; the MACs of the two add up to the conv's, and a lane count that
    reaches its target without splitting (1, 2, 3, 6, 18, 36) or misses it anyway and keeps its
    geometry (48) has no split."""
    lat = model.cfg.act_bits + 1
    s = sc.compile_schedule(model, 7)
    segs = [ph for ph in s.phases if ph.layer == 2 and ph.mode == sc.MODE_GRP]
    assert [(ph.stream_blocks, ph.t_begin, ph.n_blocks, ph.n_tiles) for ph in segs] == [(1, 0, 6, 4), (7, 28, 1, 2)]
    assert segs[1].stream_t == (28,) * 7 and segs[1].stream_pos == (56,) * 7
    assert sum(ph.macs for ph in segs) == model.layers[2].grp.spec.macs
    assert sc.cycles(s, lat) == 12379 and sc.cycles(s, lat) / (model.cfg.macs / 7) <= sc.ratio_target(7)
    h = segs[0]
    whole = [sc._phase(sc.MODE_GRP, (sc.KIND_POS, rb), 2, model.layers[2].grp, 3, h.in_bank, h.out_bank,
                       s.geometry, h.lq_in, h.lq_out) for rb in (1, 7)]
    assert sum(sc.phase_cycles(ph, s.geometry, lat) for ph in segs) + 300 < min(
        sc.phase_cycles(ph, s.geometry, lat) for ph in whole)
    for p in (1, 2, 3, 6, 18, 36, 48):
        assert all(ph.t_begin == 0 for ph in sc.compile_schedule(model, p).phases), p


@pytest.mark.parametrize("parallel, streams, groups_per_block, blocks",
                         [(26, None, 2, 2), (32, None, 2, 2), (40, None, 3, 1), (13, 13, 2, 2), (19, 19, 3, 1)])
def test_depthwise_blocks_of_whole_groups(model, parallel, streams, groups_per_block, blocks):
    """With at least two shuffle groups' channels (cg = 6) per block of streams, a depthwise
    branch's block spans whole groups (kind (chan, k)): stream r of block b is channel b * k * cg
    + r, written at its shuffled slot; fewer blocks than groups, so fewer cycles than one group
    per block, and no stream's offsets collide (the idle streams get free ones)."""
    s = sc.compile_schedule(model, parallel, streams=streams)
    lat = model.cfg.act_bits + 1
    for ph in (p for p in s.phases if p.mode == sc.MODE_DW):
        assert (ph.kind, ph.stream_blocks, ph.n_groups, ph.n_blocks) == (sc.KIND_CHAN, groups_per_block, 1, blocks)
        assert sc.conflict_free(ph, s.geometry)
        cg, g = ph.cout // 3, 3
        for b in range(ph.n_blocks):
            for r in range(s.streams):
                oc, _ = sc.lane_channel(ph, _spec(model, ph), 0, b, r, 0, s.geometry)
                if oc is not None:
                    assert oc == b * groups_per_block * cg + r
                    assert b * ph.out_block_step + ph.stream_slot_out[r] == slot(oc, ph.cout, g, True)
                else:       # an idle stream's select bit: beyond the map, or a later block's channel
                    i = b * ph.sel_block_step + ph.stream_sel[r]
                    assert i >= ph.cout or i // (groups_per_block * cg) > b
        one = dataclasses.replace(ph, n_groups=g, n_blocks=-(-cg // s.streams))
        assert sc.phase_cycles(ph, s.geometry, lat) < sc.phase_cycles(one, s.geometry, lat)


def _spec(model, ph):
    return model.layers[ph.layer].dw.spec


def _without_shuffle(model):
    """The same model with every channel shuffle switched off (the ``msgc_noshuffle`` topology)."""
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


#: the output-address constants of a phase (channel shuffle changes only these, and how a
#: depthwise phase groups its blocks into shuffle groups)
CONSTANTS = {"out_group_step", "out_block_step", "lane_slot_step", "stream_slot_out"}
DW_GROUPING = {"n_groups", "n_blocks", "in_group_step", "sel_group_step", "valid_lanes"}


@pytest.mark.parametrize("parallel", [1, 6, 36])
def test_shuffle_is_only_constants(model, parallel):
    """With and without channel shuffle the phases differ only in the output address constants
    (and a depthwise phase in how its channels group into shuffle groups); every output lands at
    its shuffled slot."""
    shuffled = [li for li, layer in enumerate(model.layers) if layer.spec.shuffle]
    assert shuffled
    s, s0 = sc.compile_schedule(model, parallel), sc.compile_schedule(_without_shuffle(model), parallel)
    assert s.geometry == s0.geometry and len(s.phases) == len(s0.phases)
    changed = set()
    for a, b in zip(s.phases, s0.phases):
        differ = {f.name for f in dataclasses.fields(a) if getattr(a, f.name) != getattr(b, f.name)}
        allowed = CONSTANTS | (DW_GROUPING if a.mode == sc.MODE_DW else set())
        assert differ <= allowed, differ
        if differ:
            changed.add(a.layer)
    assert changed == set(shuffled)
    # where each output channel lands: its shuffled slot
    from ternecg.hw.schedule_run import _outputs
    for ph, (li, mode, conv, g) in zip(s.phases, sc._convs(model)):
        if not g:
            continue
        for t in tiles(ph):
            for r, l, slot_, pos, ok in _outputs(ph, s.geometry, t):
                if ok:
                    oc, _ = sc.lane_channel(ph, conv.spec, t.gi, t.b, r, l, s.geometry)
                    assert slot_ == slot(oc, conv.spec.cout, g, True)


@pytest.mark.parametrize("bad", [0, 65, -1, "2", 2.0, True])
def test_bad_parallel_is_rejected_with_the_value(model, bad):
    with pytest.raises(TernEcgError) as e:
        sc.compile_schedule(model, bad)
    assert repr(bad) in str(e.value) or str(bad) in str(e.value)


@pytest.mark.parametrize("parallel", [1, 12])
def test_cycle_model_skips_selected_blocks(model, beats, parallel):
    """A skipped grouped block costs SKIP_BLOCK instead of its tiles; blocks skipped after a
    phase's last executed tile overlap its drain; the worst case skips nothing."""
    s = sc.compile_schedule(model, parallel)
    lat = model.cfg.act_bits + 1
    worst = sc.cycles(s, lat)
    grp = [ph for ph in s.phases if ph.mode == sc.MODE_GRP]
    none_sel = {ph.layer: [0] * 64 for ph in grp}
    all_sel = {ph.layer: [1] * 64 for ph in grp}
    assert sc.cycles(s, lat, none_sel) == worst
    saved = sum(sc.phase_cycles(ph, s.geometry, lat) - sc.PHASE_START - sc.SKIP_BLOCK * ph.blocks - 1
                for ph in grp)
    assert worst - sc.cycles(s, lat, all_sel) == saved
    ph = grp[0]
    n = ph.blocks
    last_only = sc.phase_cycles(ph, s.geometry, lat, [n - 1])
    first_only = sc.phase_cycles(ph, s.geometry, lat, [0])
    full = sc.phase_cycles(ph, s.geometry, lat)
    assert full - first_only == ph.block_cycles(0) - sc.SKIP_BLOCK
    assert full - last_only == ph.block_cycles(ph.n_groups - 1)     # its skip hides in the drain
    tr = integer_ref.forward(model, torch.as_tensor(beats["raw"][:50].astype("int64")))
    for bi in range(50):
        sel = {li: v["select"][bi].tolist() for li, v in tr.mux.items()}
        assert sc.cycles(s, lat, sel) <= worst


@pytest.mark.parametrize("parallel", [3, 4, 5])
def test_four_class_model_at_lane_counts_that_split_its_classes(beats, parallel):
    """The four-class monitor model (4 logits) at P = 3 once asserted in the schedule compiler
    ("phase counters disagree with the passes"): lanes now span its classes at any P, and the
    schedule run in Python gives golden's layers and logits on a real beat."""
    from ternecg.golden.spec import modelfile
    m = modelfile.load(modelfile.MODELS_DIR / "aami4_inter.json")
    s = sc.compile_schedule(m, parallel)
    assert s.parallel == parallel and memory_conflicts(s) == []
    codes = torch.tensor([[3, 7, 12, 2, 5][:m.cfg.rr_features]])    # the RR table adds after the engine's logits
    tr = integer_ref.forward(m, torch.as_tensor(beats["raw"][:1].astype("int64")), codes)
    res = run(s, tr.input[0].tolist())
    for li in range(len(m.layers) - 1):
        assert res["layers"][li] == tr.layers[li][0].flatten().tolist(), (parallel, li)
    assert res["logits"] == (tr.logits - tr.rr)[0].tolist()
