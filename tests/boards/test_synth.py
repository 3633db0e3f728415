"""Report parsing of the board builds (boards/build.py), on log excerpts.

The synthesis smoke test of the iCEBreaker board top (a real Yosys + nextpnr-ice40 + icepack
build: timing met, resources, bitstream, saved report) lives in tests/boards/test_patch.py
(``test_icebreaker_build_report``), on the build that the patch tests need anyway; until issue 16
this module built the same design a second time (30-60 s)."""

from ternecg.boards.build import parse_nextpnr_log, parse_yosys_ffs, summarize

TIM = """Info: Device utilisation:
Info: 	         ICESTORM_LC:  2713/ 5280    51%
Info: 	        ICESTORM_RAM:    22/   30    73%
Info: 	               SB_IO:     5/   96     5%
Info: 	        ICESTORM_DSP:     0/    8     0%
Info: Max frequency for clock 'cd_sync.clk': 20.10 MHz (PASS at 12.00 MHz)
Info: Max frequency for clock 'cd_sync.clk': 32.93 MHz (PASS at 12.00 MHz)
"""
RPT = """Printing statistics.
     211   SB_DFF
      88   SB_DFFE
"""


def test_parse_reports():
    p = parse_nextpnr_log(TIM)
    assert p["util"]["ICESTORM_LC"] == (2713, 5280) and p["fmax"] == {"cd_sync.clk": 32.93}
    assert parse_yosys_ffs(RPT, "ice40") == 299
    r = summarize("icebreaker", TIM, RPT, 12.0)
    assert (r["lc_used"], r["ebr"], r["dsp"], r["ff"], r["timing_met"]) == (2713, 22, 0, 299, True)
    assert not summarize("icebreaker", TIM, RPT, 40.0)["timing_met"]
