"""Gate level: the shipped model's accelerator synthesized with Yosys synth_ice40 and simulated
with Yosys' iCE40 cell models, bit-exact against golden (:func:`ternecg.sim.verify.verify` with
``netlist=True``).

Here: the board netlist (no debug tap, P = 6) in the speed harness on Icarus, 2 fixture beats
(a normal and a ventricular one) under random idle input and random back-pressure (logits, class,
cycles as a lower bound): one synthesis proves that it kept the design's meaning, and Icarus
compiles the netlist in a second where Verilator needs minutes. The volumes are in
`make sim-gate` (build/reports/gate.json): all 302 fixture beats of the netlist on Verilator and
100 beats of the netlist WITH the debug tap on Icarus through the cocotb bench (every hidden
layer). Before issue 16 `make test` ran 302 Verilator beats and 2 tapped Icarus beats (a second
synthesis and a Verilator build of the netlist): 127 s for what these beats prove."""

import json

import pytest

from ternecg.sim import gate
from ternecg.sim.verify import Beats, Options, verify


@pytest.mark.sim
@pytest.mark.fpga
@pytest.mark.slow           # one synthesis (~20-90 s) and ~25 s of gate-level Icarus
def test_gate_level_netlist_is_bit_exact():
    from ternecg.golden import fixture
    sym = fixture.load()["symbol"]
    idx = [0, int(next(i for i, s in enumerate(sym) if s == "V"))]
    r = verify(Beats.fixture(index=idx), Options(parallel=6, simulator="icarus", netlist=True,
                                                 idle="random", backpressure="random", seed=5))
    assert r.beats == 2 and r.ok, r.summary()
    nets = list(gate.GATE_DIR.glob("gate_acc_*_p6_netlist.v"))
    assert nets and "SB_LUT4" in nets[0].read_text()


def test_report_shape(tmp_path, monkeypatch):
    """`make sim-gate`'s report: one entry per simulator with beats and mismatches (the runs are
    replaced by stubs here; the real ones are above and in `make sim-gate`)."""
    monkeypatch.setattr(gate, "run_verilator", lambda n, p: {"beats": n, "mismatches": 0, "failures": []})
    monkeypatch.setattr(gate, "run_icarus", lambda n, p: {"beats": n, "mismatches": 0, "failures": []})
    out = gate.run(beats=3, parallel=6, verilator_beats=5, report=tmp_path / "gate.json")
    assert json.loads((tmp_path / "gate.json").read_text()) == out
    assert out["verilator"]["beats"] == 5 and out["icarus"]["beats"] == 3
