"""The speed harness (:func:`ternecg.sim.verify.verify`, ``bench="harness"``): the shipped models'
accelerator, driven by Verilog, bit-exact against golden (class, logits, cycles):

* all 302 fixture beats under the whole idle x back-pressure matrix on Verilator (2,718 beats:
  this is where `make test` checks every fixture beat under every stall pattern; the cocotb bench
  in test_network_sim.py checks every hidden layer on fewer beats), and a few beats on Icarus;
* the inter-patient model with every fixture beat's real RR codes (none/none and random/random);
* the comparison catches a wrong logit, class or cycle count and names the beat;
* the cocotb diagnosis re-run (debug tap) agrees on good beats; waves are dumped;
* bad options and beats fail in one line before any simulator starts (not marked ``sim``).

Every DS2 beat (patient models, and the inter-patient model with RR codes) runs in
`make sim-regress`.
"""

import itertools

import numpy as np
import pytest

from ternecg.errors import TernEcgError
from ternecg.golden.spec import modelfile
from ternecg.sim import harness, runner
from ternecg.sim.verify import Beats, Options, diagnose, verify

PARALLEL = 6
MATRIX = list(itertools.product(harness.PATTERNS, harness.PATTERNS))
RR_MODEL = modelfile.MODELS_DIR / "inter_patient.json"
sim = pytest.mark.sim


@pytest.fixture(scope="module")
def fixture_beats():
    return Beats.fixture()


@sim
@pytest.mark.parametrize("idle,backpressure", MATRIX, ids=[f"{i}-{b}" for i, b in MATRIX])
def test_verilator_fixture_matrix(fixture_beats, idle, backpressure):
    r = verify(fixture_beats, Options(parallel=PARALLEL, idle=idle, backpressure=backpressure,
                                      seed=len(idle) * 7 + len(backpressure)))
    assert r.beats == 302 and r.ok, r.summary()
    assert r.cycles > 302 * 10_000


@sim
def test_icarus_random_stalls():
    r = verify(Beats.fixture(index=[0, 202]),
               Options(parallel=PARALLEL, simulator="icarus", idle="random", backpressure="random", seed=3))
    assert r.beats == 2 and r.ok, r.summary()


@sim
@pytest.mark.parametrize("idle,backpressure", [("none", "none"), ("random", "random")])
def test_verilator_rr_model(fixture_beats, idle, backpressure):
    """The inter-patient model: each fixture beat's real RR codes on ``rr`` from the harness."""
    r = verify(fixture_beats, Options(model=RR_MODEL, parallel=PARALLEL, idle=idle,
                                      backpressure=backpressure))
    assert r.beats == 302 and r.ok, r.summary()


@sim
@pytest.mark.parametrize("field", ["logits", "cls", "cycles"])
def test_comparison_catches_a_wrong_result(field):
    from ternecg.sim.network_tb import make_vectors
    from ternecg.sim.verify import design
    opts = Options(parallel=PARALLEL)
    beats = Beats.fixture(first=10, count=20)
    d = design(opts)
    vec = make_vectors(d.model, beats.raw, records=beats.record, samples=beats.sample,
                       accel=d.accel, layers=False)
    bad = {k: np.array(v, copy=True) for k, v in vec.items()}
    k = 17
    if field == "logits":
        bad[field][k, 1] += 1
    elif field == "cls":
        bad[field][k] = 1 - bad[field][k]
    else:
        bad[field][k] += 1
    r = verify(beats, opts, expected=bad)
    assert r.mismatched_beats == [k]
    text = " ".join(r.mismatches)
    assert str(int(beats.record[k])) in text and str(int(beats.sample[k])) in text


@sim
@pytest.mark.long
def test_diagnose_runs_the_tapped_testbench():
    r = diagnose(Beats.fixture(), [5, 6], Options(parallel=PARALLEL))
    assert r.beats == 2 and r.ok and r.options.layers and r.tap_writes > 0, r.summary()


@sim
@pytest.mark.long
def test_waves_are_dumped():
    """waves=True (or WAVES=1): the harness's executable dumps the whole design (FST, or VCD
    without lz4.h)."""
    r = verify(Beats.fixture(count=1), Options(parallel=PARALLEL, waves=True))
    assert r.ok, r.summary()
    dumps = list(runner.BUILD_ROOT.glob("harness/sim/*-verilator-waves/run-*/dump.*"))
    assert dumps and max(d.stat().st_size for d in dumps) > 100_000


@sim
def test_verilator_build_failure_names_the_log(tmp_path):
    bad = tmp_path / "broken.v"
    bad.write_text("module broken_harness(input clk); this is not verilog; endmodule\n")
    with pytest.raises(runner.SimulationFailed, match=r"Verilator build of broken_harness failed; see .*build\.log"):
        harness.build_verilator([bad], "broken_harness", tmp_path / "build")


#: a stand-in core that breaks the stream rule on ``o`` once its result has been held 50 cycles
RULE_BREAKER = """
module breaker(input clk, input rst, input i__valid, output i__ready, input [11:0] i__payload,
               output o__valid, input o__ready, output [7:0] o__payload);
  reg [15:0] n = 0;
  always @(posedge clk) if (!rst) n <= n + 16'd1;
  assign i__ready = 1'b1;
  assign o__valid = n > 300;
  assign o__payload = (n > 350) ? 8'h5a : 8'h00;
endmodule
"""


@sim
def test_harness_counts_stream_rule_breaks_during_a_hold(tmp_path):
    """The checker that the 100,000-cycle hold test relies on: a core whose held payload changes
    is counted (rule_errors > 0), one cycle per break, and the cycle is printed."""
    (tmp_path / "breaker.v").write_text(RULE_BREAKER)
    (tmp_path / "h.v").write_text(harness.harness_verilog("breaker", length=4, raw_bits=12, out_bits=8,
                                                          max_beats=1))
    binary = harness.build_verilator([tmp_path / "breaker.v", tmp_path / "h.v"], "breaker_harness",
                                     tmp_path / "build")
    (tmp_path / "x.hex").write_text("1\n2\n3\n804\n")
    harness.run_verilator(binary, ["+beats=1", "+samples=x.hex", "+results=r.txt", "+hold=200"], tmp_path)
    rows = (tmp_path / "r.txt").read_text().split("\n")
    assert rows[0].split()[0] == "5a" and int(rows[0].split()[1]) > 500
    assert rows[1] == "rule_errors 1"
    assert "stream rule broken on o" in (tmp_path / "sim.log").read_text()


# ---- no simulator: errors before any build ------------------------------------------------------

@pytest.mark.parametrize("kw,match", [({"idle": "bursty"}, "idle pattern"),
                                      ({"backpressure": "x"}, "back-pressure pattern"),
                                      ({"simulator": "xsim"}, "simulator must be"),
                                      ({"bench": "fpga"}, "bench must be"),
                                      ({"cycles": "most"}, "cycles must be"),
                                      ({"parallel": "6"}, "parallel must be an int"),
                                      ({"layers": True}, "needs bench='cocotb'"),
                                      ({"tests": ("worst_case",)}, "harness runs stream_beats only"),
                                      ({"hold": -1}, "hold must be a number of cycles"),
                                      ({"hold": 10, "bench": "cocotb"}, "hold= needs bench='harness'"),
                                      ({"bench": "cocotb", "tests": ("fly",)}, "tests must be among")])
def test_bad_options(kw, match):
    with pytest.raises(TernEcgError, match=match):
        Options(**kw)


def test_bad_beats():
    with pytest.raises(TernEcgError, match="samples, the model expects"):
        verify(Beats(np.zeros((2, 100), np.int64)), Options(parallel=PARALLEL))
    with pytest.raises(TernEcgError, match="N >= 1"):
        Beats(np.zeros((0, 240), np.int64))
    with pytest.raises(TernEcgError, match="3 rr values for 2 beats"):
        Beats(np.zeros((2, 240), np.int64), rr=np.zeros((3, 3), np.int64))
    with pytest.raises(TernEcgError, match="needs Beats"):
        verify(np.zeros((2, 240), np.int64))


def test_rr_model_without_codes_one_message():
    with pytest.raises(TernEcgError, match="pass the beats' RR codes"):
        verify(Beats(Beats.fixture(count=2).raw), Options(model=RR_MODEL, parallel=PARALLEL))


def test_unmarked_tests_cannot_start_a_simulator():
    """tests/conftest.py: this test is not marked ``sim``, so a simulator build or run fails at
    once (this is what keeps `make test-fast` free of Verilog simulators)."""
    with pytest.raises(runner.SimulationFailed, match="not marked `sim`"):
        runner.require_simulator("a build")
