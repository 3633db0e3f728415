"""`make asic-report` (boards/asic_report.py) on the tiny model of tests/hw/tiny_model.py: the ASIC
Verilog has no FPGA primitive (no iCE40 or ECP5 cell, no SPRAM), and Yosys' CMOS flow gives the
logic's transistors, every memory's bits (the weight ROM among them), a logic depth, and fewer
memory bits but more transistors with the weight ROM hard-wired."""

import json
import re

import pytest

from ternecg.boards import asic_report
from ternecg.hw.top import Accelerator
from ternecg.hw.verilog import convert_asic
from ternecg.tools import setup_env

from tiny_model import tiny_model

#: names of vendor cells (iCE40, ECP5) that an ASIC netlist must not instantiate
FPGA_PRIMITIVES = re.compile(r"\b(SB_\w+|ICESTORM_\w+|TRELLIS_\w+|DP16KD|PDPW16KD|EHXPLLL|MULT18X18D|"
                             r"ALU54B|DCCA|OSCG|USRMCLK|LUT4|PFUMX|CCU2C)\b")


@pytest.mark.parametrize("parallel", [1, 4])
def test_asic_verilog_has_no_fpga_primitives(parallel):
    setup_env()
    text = convert_asic(Accelerator(tiny_model(0), parallel), "asic_top")
    assert not FPGA_PRIMITIVES.findall(text)
    assert "(* init" not in text                  # no register starts at a value (ROMs keep theirs)


@pytest.mark.slow                  # Yosys to CMOS gates: in make test, out of make test-fast
def test_report_of_the_tiny_model(tmp_path, monkeypatch):
    monkeypatch.setattr(asic_report, "WORK", tmp_path / "work")
    monkeypatch.setattr(asic_report.modelfile, "load", lambda path=None: tiny_model(0))
    rep = asic_report.asic_report(None, [1], tmp_path)
    assert json.loads((tmp_path / "asic.json").read_text()) == rep
    (r,) = rep["settings"]
    assert r["parallel"] == 1 and r["transistors"] > 1000 and 5 < r["depth"] < 200 and r["flip_flops"] > 50
    assert r["memory_bits"]["engine.wrom"] > 0                      # the weight ROM is a memory
    assert r["memory_bits_total"] == sum(r["memory_bits"].values())
    assert r["transistors_weights_hardwired"] > r["transistors"]


def test_table():
    """The printed table (the README's rows) for a small report."""
    report = {"settings": [
        {"parallel": 1, "transistors": 14564, "flip_flops": 505, "memory_bits_total": 65776, "depth": 42,
         "transistors_weights_hardwired": 27306},
        {"parallel": 6, "transistors": 33440, "flip_flops": 1023, "memory_bits_total": 65962, "depth": 50,
         "transistors_weights_hardwired": 47796}]}
    assert asic_report.table(report) == (
        "| P | transistors (logic) | flip-flops | memory bits | depth | transistors, weights hard-wired |\n"
        "|---|---|---|---|---|---|\n"
        "| 1 | 14,564 | 505 | 65,776 | 42 | 27,306 |\n"
        "| 6 | 33,440 | 1,023 | 65,962 | 50 | 47,796 |")
