"""Gate level: the shipped model's accelerator synthesized with Yosys synth_ice40 and simulated
with Yosys' iCE40 cell models, bit-exact against golden: every fixture beat on Verilator (speed
harness, random idle/back-pressure, logits/class/cycles) and two beats on Icarus through the
cocotb testbench with the debug tap (every layer). `make sim-gate` runs 100 beats on Icarus."""

import json

import pytest

from ternecg.sim import gate

pytestmark = pytest.mark.slow          # 2 syntheses (~20 s each), a Verilator build, ~40 s of sim


def test_gate_level_netlist_is_bit_exact(tmp_path):
    report = tmp_path / "gate.json"
    out = gate.run(beats=2, parallel=6, verilator_beats=302, report=report)
    assert json.loads(report.read_text()) == out
    v, i = out["verilator"], out["icarus"]
    assert v["beats"] == 302 and v["mismatches"] == 0, v["first_mismatches"]
    assert i["beats"] == 2 and i["mismatches"] == 0, i["first_mismatches"]
    assert "SB_LUT4" in gate.GATE_DIR.joinpath("gate_board_netlist.v").read_text()
