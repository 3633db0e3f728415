"""The whole accelerator's generated Verilog (debug tap) in the cocotb network testbench on Verilator
and Icarus, bit-exact against the integer reference: every hidden layer, logits, class, cycles;
the stream rule on the result port under stalls; reset recovery; the worst-case beats.

Everything goes through :func:`ternecg.sim.verify.verify` (``bench="cocotb"``, ``layers=True``):
one build per (model, simulator, PARALLEL), shared with every other caller (diagnosis, regress).

What runs here, and where the volume lives (issue 16: each guarantee at the cheapest level that
proves it, the big volumes in `make sim-regress` / `make sim-gate`):

* Verilator, P = 6: 32 fixture beats spread over every record of the fixture (its first beat
  and first abnormal beat), no stalls (cycles exact), with reset recovery and the worst-case
  beats in the same run; 3 beats under each of the 8 other idle x back-pressure combinations
  (cycles as a lower bound) and reset recovery under random stalls. Class, logits and cycles of ALL 302 fixture beats under all 9 combinations are
  checked by the speed harness (tests/sim/test_harness_sim.py, 2,718 beats on Verilator), which
  replaced the 604 cocotb beats that used to run here; every DS2 beat runs in `make sim-regress`.
* P = 3 (2 beats, random stalls) and P = 1 (1 beat) on Icarus. Before issue 16 they had their
  own Verilator builds (P = 3: 4 beats and reset recovery; P = 1: 2 beats and the worst-case
  beats): reset recovery and the worst-case beats are now checked at P = 6 (default and RR model),
  P = 1 on Verilator in the board core (test_board_e2e.py) and by `make demo` (302 beats).
* Icarus, P = 6: 6 beats over none/none and random/random (the 50 Icarus beats and
  the Icarus worst-case run of `make test` before issue 16 are now in `make sim-regress`: 200
  Icarus beats, and `make sim-gate`: 100 gate-level Icarus beats with every layer; the
  worst-case beats run on Verilator here).
* The inter-patient model (RR codes on the ``rr`` stream): test_network_rr_sim.py (a file of its
  own so that `make test`'s two xdist workers share the cocotb network runs).
"""

import itertools
import os
from pathlib import Path

import numpy as np
import pytest

from ternecg.golden import fixture
from ternecg.sim.verify import Beats, Options, verify

pytestmark = pytest.mark.sim

PATTERNS = ("none", "fixed", "random")
N_FIXTURE = 302
RESETS = ("reset_mid_input", "reset_mid_compute")
ALL_TESTS = ("stream_beats",) + RESETS + ("worst_case",)



def _spread():
    """The first beat of every fixture record and its first abnormal (non-N) beat."""
    fx = fixture.load()
    out = []
    for rec in dict.fromkeys(fx["record"].tolist()):
        idx = np.flatnonzero(fx["record"] == rec)
        out.append(int(idx[0]))
        odd = [int(i) for i in idx if fx["symbol"][i] != "N"]
        if odd and odd[0] != out[-1]:
            out.append(odd[0])
    return out


#: beats spread over the whole fixture: every record, normal and abnormal
SPREAD = _spread()
#: the 8 idle x back-pressure combinations other than none/none, each on its own 3 beats
OTHERS = [c for c in itertools.product(PATTERNS, PATTERNS) if c != ("none", "none")]


def _check(report):
    assert report.ok, report.summary()


def test_spread_beats_resets_and_worst_case_p6(tmp_path):
    """Beats of every fixture record, no stalls, cycles exact; then reset mid-input and
    mid-compute, and the worst-case beats, each followed by bit-exact beats. The progress file is
    given as a relative path, as `ternecg sim-regress --layers` does (the bench runs in its own
    folder: a relative path failed every record)."""
    progress = Path(os.path.relpath(tmp_path / "progress.txt"))
    progress.write_text("0")
    r = verify(Beats.fixture(index=SPREAD), Options(parallel=6, bench="cocotb", layers=True,
                                                    tests=ALL_TESTS), progress=progress)
    _check(r)
    assert int(progress.read_text()) >= 10
    assert r.beats == len(SPREAD) and r.tap_writes > 1000 * len(SPREAD)
    records = set(fixture.load()["record"].tolist())
    assert {str(x) for x in Beats.fixture(index=SPREAD).record} == {str(x) for x in records}


@pytest.mark.parametrize("idle,backpressure", OTHERS, ids=[f"{i}-{b}" for i, b in OTHERS])
def test_stall_matrix_p6(idle, backpressure):
    k = OTHERS.index((idle, backpressure))
    r = verify(Beats.fixture(first=40 + 3 * k, count=3),
               Options(parallel=6, bench="cocotb", layers=True, idle=idle, backpressure=backpressure,
                       seed=k + 1))
    _check(r)


def test_resets_under_random_stalls_p6():
    r = verify(Beats.fixture(first=30, count=3),
               Options(parallel=6, bench="cocotb", layers=True, idle="random", backpressure="random",
                       seed=7, tests=("stream_beats",) + RESETS))
    _check(r)


def test_p3_and_p1_icarus():
    """Other lane counts, every layer: P = 3 under random stalls (2 beats) and P = 1 (1 beat) on
    Icarus (no Verilator build for them: P = 1 also runs on Verilator in the board core,
    tests/sim/test_board_e2e.py, 20 beats bit-exact with cycles; `make demo` runs all 302 fixture
    beats at P = 1 on Verilator)."""
    r = verify(Beats.fixture(first=10, count=2),
               Options(parallel=3, simulator="icarus", bench="cocotb", layers=True, idle="random",
                       backpressure="random", seed=11))
    _check(r)
    r = verify(Beats.fixture(first=20, count=1),
               Options(parallel=1, simulator="icarus", bench="cocotb", layers=True))
    _check(r)


#: the fixed pattern runs on Verilator (test_stall_matrix_p6) and in the speed harness on all beats
ICARUS = [("none", "none", 0, 3), ("random", "random", 100, 3)]


# without stalls: make test-long (the Verilator fixture matrix runs none-none in make test)
@pytest.mark.parametrize("idle,backpressure,first,count", [
    pytest.param(*r, id=f"{r[0]}-{r[1]}", marks=[pytest.mark.long] if r[0] == "none" else []) for r in ICARUS])
def test_icarus_p6(idle, backpressure, first, count):
    r = verify(Beats.fixture(first=first, count=count),
               Options(parallel=6, simulator="icarus", bench="cocotb", layers=True, idle=idle,
                       backpressure=backpressure, seed=first + 1))
    _check(r)


def test_a_wrong_layer_value_is_caught_and_named():
    """The layer comparison is not vacuous: one wrong expected value of a hidden layer fails
    exactly that beat, and the message names the layer, channel and position, and the beat's
    record and R-peak sample (the harness tests do the same for logits, class and cycles)."""
    from ternecg.sim.network_tb import make_vectors
    from ternecg.sim.verify import design
    opts = Options(parallel=6, bench="cocotb", layers=True)
    beats = Beats.fixture(first=50, count=2)
    d = design(opts)
    vec = make_vectors(d.model, beats.raw, records=beats.record, samples=beats.sample, accel=d.accel)
    bad = {k: np.array(v, copy=True) for k, v in vec.items()}
    length = int(vec["layer_lengths"][2])
    bad["layer2"][1, 3 * length + 7] += 1
    r = verify(beats, opts, expected=bad)
    assert r.mismatched_beats == [1] and not r.failures, r.summary()
    text = " ".join(r.mismatches)
    assert str(int(beats.record[1])) in text and str(int(beats.sample[1])) in text
    assert "layer 2 channel 3 position 7" in text


def test_beat_counts():
    """Issue 4's floor of real beats in `make test`: >= 500 on Verilator (now the speed harness:
    302 fixture beats x 9 idle/back-pressure combinations, test_harness_sim.py) and Icarus beats
    with every layer here (the 50+ Icarus beats are in `make sim-regress`, 200)."""
    assert N_FIXTURE * len(PATTERNS) ** 2 >= 500
    assert sum(c for _, _, _, c in ICARUS) >= 6 and len(SPREAD) >= 22
    assert len(fixture.load()["raw"]) == N_FIXTURE


@pytest.mark.long
def test_one_lane_per_stream_p10():
    """P = 10 (ten streams of one lane: the serializer's pass-through, hw/serializer.py) on
    Verilator: beats of every fixture record without stalls (cycles exact) and two under random
    stalls, every layer."""
    _check(verify(Beats.fixture(index=SPREAD), Options(parallel=10, bench="cocotb", layers=True)))
    _check(verify(Beats.fixture(first=60, count=2),
                  Options(parallel=10, bench="cocotb", layers=True, idle="random", backpressure="random", seed=10)))


@pytest.mark.long
@pytest.mark.parametrize("parallel", [26, 32])
def test_depthwise_blocks_of_whole_groups(parallel):
    """P = 26 (13 x 2) and P = 32 (16 x 2): the depthwise branches' blocks span two shuffle groups
    (hw/schedule.py, kind (chan, 2)) on Verilator: beats of every fixture record without stalls
    (every layer, cycles exact) and two under random stalls."""
    from ternecg.golden.spec import modelfile
    from ternecg.hw.schedule import KIND_CHAN, MODE_DW, compile_schedule
    s = compile_schedule(modelfile.load(), parallel)
    assert {(ph.kind, ph.stream_blocks) for ph in s.phases if ph.mode == MODE_DW} == {(KIND_CHAN, 2)}
    _check(verify(Beats.fixture(index=SPREAD), Options(parallel=parallel, bench="cocotb", layers=True)))
    _check(verify(Beats.fixture(first=60, count=2), Options(parallel=parallel, bench="cocotb", layers=True,
                                                            idle="random", backpressure="random", seed=11)))


@pytest.mark.long
@pytest.mark.parametrize("parallel", [7, 15])
def test_convs_split_by_position_and_depthwise_on_positions(parallel):
    """P = 7 (7 x 1): convs split by position into two phases (hw/schedule_search.py ``_split_options``:
    whole tiles of 7 positions, then the last positions with the 7 streams on channels); P = 15
    (5 x 3): the depthwise branches with every stream on one channel's positions (kind dwpos: the
    MUX-skip unit sums the streams' GAP). On Verilator: beats of every fixture record without
    stalls (every layer, cycles exact) and two under random stalls."""
    from ternecg.golden.spec import modelfile
    from ternecg.hw.schedule import KIND_DWPOS, compile_schedule
    s = compile_schedule(modelfile.load(), parallel)
    assert (sum(ph.t_begin > 0 for ph in s.phases) >= 3) == (parallel == 7)
    assert any(ph.kind == KIND_DWPOS for ph in s.phases) == (parallel == 15)
    _check(verify(Beats.fixture(index=SPREAD), Options(parallel=parallel, bench="cocotb", layers=True)))
    _check(verify(Beats.fixture(first=60, count=2), Options(parallel=parallel, bench="cocotb", layers=True,
                                                            idle="random", backpressure="random", seed=parallel)))
