"""The inter-patient model's accelerator (RR codes on the ``rr`` stream, hw/rr_table.py) in the
cocotb network testbench with the debug tap, bit-exact against the integer reference (every hidden
layer, logits, class, cycles), through :func:`ternecg.sim.verify.verify`: the beats of every
fixture record with their real RR codes on Verilator P = 6 (no stalls, cycles exact) with reset
recovery and the worst-case beats with extreme codes in the same run; 6 beats under random stalls
with reset recovery; 2 beats on Icarus. All 302 fixture beats with their RR codes run in the speed
harness (test_harness_sim.py: none/none and random/random); every DS2 beat with its RR codes in
`make sim-regress`. Before issue 16: all 302 beats plus 60 through this bench (~2 minutes)."""

import pytest

from ternecg.golden.spec import modelfile
from ternecg.sim.verify import Beats, Options, verify
from test_network_sim import ALL_TESTS, RESETS, SPREAD, _check

pytestmark = pytest.mark.sim

RR_MODEL = modelfile.MODELS_DIR / "inter_patient.json"


@pytest.mark.long
def test_rr_model_spread_resets_and_worst_case():
    """The inter-patient model with each beat's real RR codes on ``rr``; the worst-case beats with
    extreme codes."""
    beats = Beats.fixture(index=SPREAD)
    assert len({tuple(c) for c in beats.rr.tolist()}) > 3
    r = verify(beats, Options(model=RR_MODEL, parallel=6, bench="cocotb", layers=True, tests=ALL_TESTS))
    _check(r)


def test_rr_model_random_stalls():
    r = verify(Beats.fixture(first=100, count=6),
               Options(model=RR_MODEL, parallel=6, bench="cocotb", layers=True, idle="random",
                       backpressure="random", seed=5, tests=("stream_beats",) + RESETS))
    _check(r)


def test_rr_model_icarus():
    r = verify(Beats.fixture(first=200, count=2),
               Options(model=RR_MODEL, parallel=6, simulator="icarus", bench="cocotb", layers=True,
                       idle="random", backpressure="random", seed=3))
    _check(r)
