"""Synthesis smoke test of the iCEBreaker board top (Yosys + nextpnr-ice40 + icepack, YoWASP).

Measured: 30-60 s on the 2-core development machine (under 3 minutes, so not marked slow).
The report parsing is also tested on a log excerpt."""

import json
from pathlib import Path

import pytest

from ternecg.boards.build import parse_nextpnr_log, parse_yosys_ffs, summarize

REPO = Path(__file__).resolve().parents[2]

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


def test_icebreaker_build(monkeypatch):
    from ternecg.boards.build import build
    monkeypatch.chdir(REPO)
    r = build("icebreaker", root="build/test_synth")
    assert r["timing_met"] and r["lc_used"] <= r["lc_total"] and r["ebr"] <= 30
    assert Path(r["bitstream"]).stat().st_size > 100_000
    saved = json.loads((REPO / "build/test_synth/icebreaker/report.json").read_text())
    assert set(saved) >= {"lc_used", "lc_total", "ff", "ebr", "dsp", "fmax_mhz", "target_mhz",
                          "timing_met", "seconds"}
