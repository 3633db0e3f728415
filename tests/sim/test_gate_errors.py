"""sim/gate.py: a netlist synthesis that fails is one message naming the Yosys log."""

from pathlib import Path

import pytest

from ternecg.errors import TernEcgError
from ternecg.sim import gate
from ternecg.hw import verilog


def test_failed_synthesis_names_its_log(monkeypatch):
    here = Path("build/test_gate_errors")          # relative: YoWASP cannot see /tmp
    here.mkdir(parents=True, exist_ok=True)

    def broken(design, name, out):
        from amaranth.hdl import Fragment
        Fragment.get(design, None)                  # (used: no UnusedElaboratable warning)
        path = Path(out) / f"{name}.v"
        path.write_text(f"module {name}(input clk; endmodule\n")   # a syntax error
        return path

    monkeypatch.setattr(gate, "GATE_DIR", here)
    monkeypatch.setattr(verilog, "generate", broken)
    with pytest.raises(TernEcgError) as err:
        gate.netlist(parallel=1, name="broken_top", debug=False)
    log = here / "broken_top_yosys.log"
    assert str(log) in str(err.value) and "synth_ice40 failed" in str(err.value)
    assert "syntax error" in log.read_text().lower()
