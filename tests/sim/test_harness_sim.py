"""The speed harness (ternecg.sim.harness): the shipped model's accelerator, driven by Verilog, on
the 302 fixture beats over the whole idle x back-pressure matrix on Verilator (2,718 beats) and
a few beats on Icarus, bit-exact against golden; the comparison catches a wrong logit, class or
cycle count; the cocotb diagnosis re-run agrees on good beats; bad arguments fail in one line."""

import itertools

import numpy as np
import pytest

from ternecg.errors import TernEcgError
from ternecg.golden import fixture
from ternecg.golden.spec import modelfile
from ternecg.hw.top import Accelerator
from ternecg.sim import harness, runner
from ternecg.sim.network_tb import make_vectors

pytestmark = pytest.mark.slow          # one Verilator build (~15 s) + ~10 s of simulation

PARALLEL = 6
MATRIX = list(itertools.product(harness.PATTERNS, harness.PATTERNS))


@pytest.fixture(scope="module")
def shipped():
    model = modelfile.load()
    fx = fixture.load()
    vec = make_vectors(model, fx["raw"], records=fx["record"], samples=fx["sample"],
                       accel=Accelerator(model, PARALLEL), layers=False)
    return model, fx, vec


def _run(shipped, **kw):
    model, fx, vec = shipped
    kw.setdefault("expected", vec)
    return harness.run_harness(model, fx["raw"], parallel=PARALLEL, records=fx["record"],
                               samples=fx["sample"], **kw)


@pytest.mark.parametrize("idle,backpressure", MATRIX, ids=[f"{i}-{b}" for i, b in MATRIX])
def test_verilator_fixture_matrix(shipped, idle, backpressure):
    res = _run(shipped, idle=idle, backpressure=backpressure, seed=len(idle) * 7 + len(backpressure))
    assert res.beats == len(shipped[1]["raw"]) == 302
    assert res.mismatched_beats == [], [str(m) for m in res.mismatches[:5]]
    assert res.cycles == int(np.sum(shipped[2]["cycles"]))


def test_icarus_random_stalls(shipped):
    model, fx, vec = shipped
    idx = [0, 101, 202]
    sub = {k: (v[idx] if k in ("raw", "record", "sample", "logits", "cls", "cycles") else v)
           for k, v in vec.items()}
    res = harness.run_harness(model, fx["raw"][idx], simulator="icarus", parallel=PARALLEL,
                              idle="random", backpressure="random", seed=3, expected=sub)
    assert res.beats == 3 and res.mismatched_beats == []


@pytest.mark.parametrize("field", ["logits", "cls", "cycles"])
def test_comparison_catches_a_wrong_result(shipped, field):
    model, fx, vec = shipped
    bad = dict(vec)
    bad[field] = vec[field].copy()
    k = 17
    if field == "logits":
        bad[field][k, 1] += 1
    elif field == "cls":
        bad[field][k] = 1 - bad[field][k]
    else:
        bad[field][k] += 1
    res = _run(shipped, expected=bad)
    assert res.mismatched_beats == [k]
    text = " ".join(str(m) for m in res.mismatches)
    assert str(int(fx["record"][k])) in text and str(int(fx["sample"][k])) in text


def test_diagnose_runs_the_tapped_testbench(shipped):
    model, fx, _ = shipped
    rep = harness.diagnose(model, fx["raw"], [5, 6], parallel=PARALLEL, records=fx["record"],
                           samples=fx["sample"])
    assert rep["beats"] == 2 and rep["mismatched_beats"] == 0


@pytest.mark.parametrize("kw,match", [({"idle": "bursty"}, "idle pattern"),
                                      ({"backpressure": "x"}, "back-pressure pattern"),
                                      ({"simulator": "xsim"}, "simulator must be")])
def test_bad_arguments(shipped, kw, match):
    with pytest.raises(TernEcgError, match=match):
        _run(shipped, **kw)


def test_bad_beats_shape(shipped):
    model = shipped[0]
    with pytest.raises(TernEcgError, match="samples, the model expects"):
        harness.run_harness(model, np.zeros((2, 100), np.int64))
    with pytest.raises(TernEcgError, match="N >= 1"):
        harness.run_harness(model, np.zeros((0, 240), np.int64))


def test_waves_are_dumped(shipped, monkeypatch):
    """WAVES=1: the harness's executable dumps the whole design (FST, or VCD without lz4.h)."""
    model, fx, vec = shipped
    monkeypatch.setenv("WAVES", "1")
    sub = {k: (v[:2] if k in ("raw", "record", "sample", "logits", "cls", "cycles") else v)
           for k, v in vec.items()}
    res = harness.run_harness(model, fx["raw"][:2], parallel=PARALLEL, expected=sub)
    assert res.mismatched_beats == []
    dumps = list(runner.BUILD_ROOT.glob("harness/sim/*-2-verilator-waves/run-*/dump.*"))
    assert dumps and max(d.stat().st_size for d in dumps) > 100_000


def test_verilator_build_failure_names_the_log(tmp_path):
    bad = tmp_path / "broken.v"
    bad.write_text("module broken_harness(input clk); this is not verilog; endmodule\n")
    with pytest.raises(runner.SimulationFailed, match=r"Verilator build of broken_harness failed; see .*build\.log"):
        harness.build_verilator([bad], "broken_harness", tmp_path / "build")


@pytest.mark.parametrize("idle,backpressure", [("none", "none"), ("random", "random")])
def test_verilator_rr_model(idle, backpressure):
    """The inter-patient model: each fixture beat's real RR codes on ``rr`` from the harness."""
    model = modelfile.load(modelfile.MODELS_DIR / "inter_patient.json")
    fx = fixture.load()
    res = harness.run_harness(model, fx["raw"], parallel=PARALLEL, records=fx["record"],
                              samples=fx["sample"], rr=fx["rr"], idle=idle, backpressure=backpressure)
    assert res.beats == 302
    assert res.mismatched_beats == [], [str(m) for m in res.mismatches[:5]]


def test_rr_model_without_codes_one_message():
    model = modelfile.load(modelfile.MODELS_DIR / "inter_patient.json")
    with pytest.raises(TernEcgError, match="pass the"):
        harness.run_harness(model, fixture.load()["raw"][:2], parallel=PARALLEL)
