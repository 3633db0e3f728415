"""The feature banks' memories as the synthesis tools see them (their behaviour is checked through
the engine: tests/hw/test_engine.py, including that no bank word is read and written in one cycle)."""

import re

import pytest

from ternecg.hw import verilog
from ternecg.hw.engine import Engine
from ternecg.hw.engine_layout import Widths
from ternecg.hw.schedule import compile_schedule

from tiny_model import tiny_model


@pytest.mark.parametrize("parallel", [1, 4])
def test_every_bank_memory_tells_yosys_collisions_are_dont_care(parallel):
    """Each bank memory carries Yosys' ``no_rw_check`` beside ``ternecg_rw``: without it Yosys
    wraps every block RAM bank in read/write collision logic (UP5K P = 6: 320 -> 218 LUT4 in the
    banks, hw-report)."""
    schedule = compile_schedule(tiny_model(0), parallel)
    text = verilog.convert(Engine(schedule, spram=False), "eng")
    # the attribute lines right above each memory declaration
    blocks = re.findall(r"((?:\s*\(\*[^*]*\*\)\n)+)\s*reg\s[^;]*\[[^\]]*\];", text)
    banks = [b for b in blocks if "ternecg_rw" in b]
    assert len(banks) == 3 * Widths(schedule).M         # M memories in each of the three banks
    for b in banks:
        assert "no_rw_check" in b, b
