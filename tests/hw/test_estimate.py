"""The resource estimate (hw/estimate.py): cycles exact against the schedule and the simulated engine,
block RAMs equal to what the memories need (and to what Yosys made of them), the logic-cell model
monotone in the lane count, and a bad device named in one line."""

import subprocess
import sys

import pytest

from ternecg.errors import TernEcgError
from ternecg.hw import estimate as E
from ternecg.hw.schedule import compile_schedule, cycles, skipped_blocks
from ternecg.hw.top import Accelerator

from engine_sim import run_engine
from tiny_model import CONFIG as TINY_CONFIG, tiny_beats, tiny_model


def test_import_stays_torch_free():
    code = ("import sys, ternecg.hw.estimate; "
            "bad = [m for m in sys.modules if m.split('.')[0] == 'torch' or m.startswith(('ternecg.sim', 'ternecg.boards'))]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


SETTINGS = (1, 2, 3, 4, 5, 6, 8, 9, 12, 16, 18, 24, 36, 48, 64)


@pytest.mark.parametrize("which", ["default", "tiny"])
def test_cycles_equal_the_schedule(model, which):
    m = model if which == "default" else tiny_model(0)
    for p in SETTINGS if which == "default" else range(1, 17):
        s = compile_schedule(m, p)
        lat = m.cfg.act_bits + 1
        assert E.compute_cycles(s, lat) == cycles(s, lat), p
        assert E.cycles_per_beat(s, lat) == cycles(s, lat) + E.PERIOD_GAP


def _no_skip(m, s, raws):
    """Indices of the beats in which no MUX-skip block is skipped (golden's selects)."""
    import torch
    from ternecg.golden import integer_ref
    tr = integer_ref.forward(m, torch.as_tensor(raws, dtype=torch.int64))
    return [bi for bi in range(len(raws))
            if not any(skipped_blocks(ph, s.geometry, tr.mux[ph.layer]["select"][bi].tolist())
                       for ph in s.phases if ph.layer in tr.mux)]


@pytest.mark.parametrize("which,parallel", [("tiny", 1), ("tiny", 3), ("tiny", 8),
                                            pytest.param("default", 36, marks=[pytest.mark.slow, pytest.mark.long])])
def test_cycles_equal_the_simulated_engine(model, which, parallel):
    """The engine in Amaranth's simulator (tests/hw/engine_sim.py counts as hw/top.py does): a beat
    without a skipped MUX-skip block takes exactly the estimate's compute cycles. The tiny model
    without its MUX-skip block (its random beats always skip some); the shipped model on a
    fixture beat that skips none."""
    if which == "tiny":
        config = dict(TINY_CONFIG, layers=[l for l in TINY_CONFIG["layers"] if l["type"] != "muxskip"])
        m = tiny_model(0, config)
        raws = tiny_beats(2, 0)
    else:
        from ternecg.golden import fixture
        m = model
        raws = fixture.load()["raw"][:40].astype("int64")
        raws = raws[_no_skip(m, compile_schedule(m, parallel), raws)[:1]]
        assert len(raws), "no fixture beat without a skipped block"
    dut, tr, results = run_engine(m, raws, parallel)
    for res in results:
        assert res["cycles"] == E.compute_cycles(dut._s, dut.act_latency)


def test_block_shapes():
    """Block counts Yosys 0.70 gave for single ROMs of these shapes (rom_style block, random
    contents; synth_ice40 / synth_ecp5): equal for every shape of the shipped design's ROMs; for
    a few others Yosys shares a block between two slices (both ports of an ECP5 DP16KD), one
    block fewer than the model."""
    measured = {(2400, 13): (9, 2), (2400, 12): (8, 2), (5970, 2): (3, 1), (639, 72): (14, 4),
                (2400, 9): (6, 2), (1200, 13): (5, 2), (3000, 13): (10, 3), (204, 13): (1, 1),
                (1143, 12): (4, 1), (256, 16): (1, 1)}
    exact = {(2400, 13): "up5k", (5970, 2): "both", (639, 72): "both", (204, 13): "both",
             (1143, 12): "up5k", (256, 16): "both", (1200, 13): "both"}
    for shape, counts in measured.items():
        for device, n in zip(E.DEVICES, counts):
            got = E.blocks(*shape, device)
            if exact.get(shape) in ("both", device):
                assert got == n, (shape, device)
            else:
                assert n <= got <= n + 1, (shape, device)
    assert E.placement(144, 4, False, "ecp5-85f") == ("lutram", 9)
    assert E.placement(144, 4, True, "ecp5-85f") == ("block", 1)
    assert E.placement(4, 1, False, "up5k") == ("logic", 4)


@pytest.mark.parametrize("parallel", [1, 4, 6])
def test_memories_are_the_designs(model, parallel):
    """The analytical memory list has the shapes of the accelerator's own ROMs and banks."""
    from amaranth.hdl import Fragment, Shape
    acc = Accelerator(model, parallel)
    Fragment.get(acc, None)                     # (used: no UnusedElaboratable warning)
    mems = {n: (d, w, rom) for n, d, w, rom, _ in E.memories(acc.schedule)}
    for name, md in acc.param_roms().items():
        assert mems.pop(name) == (md.depth, Shape.cast(md.shape).width, True), name
    for bank, k, depth, width in acc.engine.banks.memories():
        assert mems.pop(f"engine.bank{bank}_{k}") == (depth, width, False)
    assert list(mems) == ["norm.ram"]
    s = acc.schedule
    spram = set(E.in_spram(s, "up5k"))
    assert E.ebr(s, "up5k") == sum(E.blocks(d, w, "up5k") for n, d, _, rom, w in E.memories(s)
                                   if (rom or d * w > 64 * E.blocks(d, w, "up5k")) and n not in spram)
    assert E.in_spram(s, "ecp5-85f") == [] and E.spram(s, "ecp5-85f") == 0
    assert all(1 <= used <= w for _, _, w, _, used in E.memories(s))


def test_ebr_and_lutram_as_yosys_mapped_them(model):
    """What synth_ecp5 / synth_ice40 of make hw-report (Yosys 0.70) made of the memories: P = 36
    on the ECP5: 30 DP16KD (the parameter ROMs) and 288 TRELLIS_DPR16X4 (the 48 feature-bank
    memories); P = 1 on the UP5K: 14 RAM40_4K and 3 SPRAM (the normaliser's RAM and feature banks
    1 and 2: make hw-report builds the UP5K rows with them in SPRAM, as the iCEBreaker does; 20
    RAM40_4K without)."""
    s = compile_schedule(model, 36)
    assert E.ebr(s, "ecp5-85f") == 30
    assert E.lutram(s, "ecp5-85f") == 288
    assert E.ebr(compile_schedule(model, 1), "up5k") == 14
    assert E.spram(compile_schedule(model, 1), "up5k") == 3
    assert E.spram(compile_schedule(model, 6), "up5k") == 1


def test_spram_saved(model):
    """The block-RAM emulation logic the SPRAM banks do without (P = 1, 2, 3: banks 1 and 2 of
    2160 and 1080 x 4 bits), none where the banks are not in SPRAM."""
    assert E.spram_saved(compile_schedule(model, 1), "up5k") == {"ff": 12 + 4 + 11 + 4, "lut": 6 + 4 + 6 + 4}
    assert E.spram_saved(compile_schedule(model, 6), "up5k") == {"ff": 0, "lut": 0}
    assert E.spram_saved(compile_schedule(model, 1), "ecp5-85f") == {"ff": 0, "lut": 0}


@pytest.mark.parametrize("parallel", [1, 3, 4, 6])
def test_spram_memories_are_the_designs(model, parallel):
    """The RAMs the estimate puts in SPRAM on the UP5K are those ``Accelerator(spram=True)`` (make
    hw-report's UP5K rows) instantiates as SB_SPRAM256KA."""
    from spram_count import sprams
    acc = Accelerator(model, parallel, spram=True)
    names = {"norm.ram": "norm.ram.spram", "engine.bank1_0": "engine.banks.bank1.spram",
             "engine.bank2_0": "engine.banks.bank2.spram"}
    assert sorted(names[n] for n in E.in_spram(acc.schedule, "up5k")) == sprams(acc, None)


def test_lc_estimate_grows_with_the_lanes(model):
    for device in E.DEVICES:
        lc = [E.lc(compile_schedule(model, p), device) for p in (1, 2, 3, 6, 12, 18, 36)]
        assert all(a < b for a, b in zip(lc, lc[1:])), (device, lc)


def test_lc_model_covers_every_part(model):
    s = compile_schedule(model, 4)
    x = E.features(s)
    assert set(x) == set(E.LUT_MODEL) == {name for name, _ in E.PARTS}
    assert all(v >= 0 for v in E.lut_by_part(s).values())
    assert E.part_of("hwtop.acc.engine.writeback.act3") == "act"
    assert E.part_of("hwtop.acc.engine.banks") == "banks"
    assert E.part_of("hwtop.acc.norm") == "rest"


def test_fit_recovers_a_known_model(model):
    """fit() on synthetic measurements made from known lines gives those lines back; per-module
    counts are scaled to the flattened totals (here: twice the LUT4 of the modules)."""
    samples = []
    for p in (1, 2, 4, 6, 9):
        s = compile_schedule(model, p)
        x = E.features(s)
        luts = {f"hwtop.acc.engine.{name}": 10 + 2 * x[name] for name, _ in E.PARTS if name != "rest"}
        luts["hwtop.acc.norm"] = 100
        ffs = {f"hwtop.acc.engine.{name}": 5 + x[name] for name, _ in E.PARTS if name != "rest"}
        # P = 1 with its feature banks in SPRAM: the banks' cells without the emulation logic
        # (E.spram_saved), which the fit adds back
        saved = E.spram_saved(s, "up5k") if p == 1 else {"lut": 0, "ff": 0}
        luts["hwtop.acc.engine.banks"] -= saved["lut"] / 2
        ffs["hwtop.acc.engine.banks"] -= saved["ff"]
        flat = {"lut": 2 * sum(luts.values()), "ff": sum(ffs.values()), "carry": 0}
        cells = flat["lut"] + 0.75 * flat["ff"]
        samples.append(("up5k", s, {"lut": luts, "ff": ffs, "carry": {}}, flat, cells, p == 1))
        ecp5 = dict(flat, carry=10, lutram=2)
        samples.append(("ecp5-85f", s, {"lut": luts, "ff": ffs, "carry": {}}, ecp5,
                        1.05 * (ecp5["lut"] + 10 + E.RAM_LUTS * 2)))
    lut_model, ff_alone, comb_per_lut = E.fit(samples)
    assert lut_model["lanes"] == {"lut": (20.0, 4.0), "ff": (5.0, 1.0), "carry": (0.0, 0.0)}
    assert lut_model["rest"]["lut"] == (200.0, 0.0)
    assert ff_alone == 0.75
    assert comb_per_lut == 1.05


def test_estimate_and_bad_device(model):
    est = E.estimate(model, 2, "up5k")
    assert set(est) == {"lc", "ebr", "spram", "cycles_per_beat"}
    with pytest.raises(TernEcgError, match="device 'xc7' is not one of up5k, ecp5-85f"):
        E.estimate(model, 2, "xc7")
