"""`make link-report` (boards/link_report.py): the pin wrapper leaves the link whole, the parts add
up, and the command's errors are one line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from amaranth.lib.wiring import In
from amaranth.hdl import Value
from amaranth.sim import Simulator

from ternecg.boards import link_report as L

REPO = Path(__file__).resolve().parents[2]


def test_by_part_sums_every_module():
    luts = {"linkpins": 5, "linkpins.link.deframer": 200, "linkpins.link.framer": 300,
            "linkpins.link.buffer": 30, "linkpins.link.buffer.buf": 1, "linkpins.link.seqs": 31,
            "linkpins.uart_rx": 35, "linkpins.uart_rx.rx_sync": 2, "linkpins.uart_tx": 25,
            "linkpins.link.fifo": 7, "linkpins.link": 9}
    parts = L.by_part(luts)
    assert parts == {"uart": 62, "deframer": 200, "framer": 300, "buffer": 38, "link": 40, "wrapper": 5}
    assert sum(parts.values()) == sum(luts.values())


def test_wrapper_wires_every_link_input_to_a_pin():
    """Every input of the link from the accelerator side (the result, its valid, the samples'
    ready, the model id: none of them a constant, or synthesis would drop the logic behind it) is
    a pin, bit i of them all pin i mod IN_PINS (simulated with a few pin patterns)."""
    pins = L.LinkPins(L.serial_core("classifier"))
    link = pins.link
    inputs = [Value.cast(v) for path, member, v in link.signature.flatten(link)
              if member.flow == In and path[0] not in {"rx", "tx", "uart_overrun", "uart_framing"}]
    assert sum(map(len, inputs)) >= 32 + 2 * 8 + 2      # the model id, the logits, valid and ready
    seen = []

    async def bench(ctx):
        for pattern in (0, (1 << L.IN_PINS) - 1, 0b10110011100011110000111, 0b01001100011100001111000):
            ctx.set(pins.pins, pattern)
            await ctx.delay(1e-9)
            bits = "".join(format(ctx.get(v), f"0{len(v)}b")[::-1] for v in inputs)
            want = "".join(str(pattern >> (i % L.IN_PINS) & 1) for i in range(len(bits)))
            seen.append(bits == want)

    sim = Simulator(pins)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [True] * 4


def test_wrapper_refuses_a_core_without_its_uart():
    with pytest.raises(TypeError, match="board core built with its UART"):
        L.LinkPins(object())


def test_bad_app_is_one_line():
    proc = subprocess.run([sys.executable, "-m", "ternecg.cli", "link-report", "--app", "dsp",
                           "--out", "/tmp/link-report-should-not-exist"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and "invalid choice: 'dsp'" in lines[0], proc.stderr
    assert not Path("/tmp/link-report-should-not-exist").exists()


@pytest.mark.slow
@pytest.mark.fpga
def test_classifier_serial_side_placed(tmp_path):
    """The classifier's serial side through Yosys (ABC9) and nextpnr: the parts add up to the
    unflattened total, the wrapper is a few cells, and the flattened design keeps the link's
    logic (nothing of it optimised away behind the wrapper)."""
    res = L.report(out=tmp_path, apps=("classifier",))
    r = res["apps"]["classifier"]
    assert json.loads((tmp_path / "link.json").read_text()) == res
    mods = r["lut4_by_module"]
    assert mods["mapper"] == "abc9"
    assert sum(r["lut4_by_part"].values()) == sum(mods["modules"].values())
    for part in ("uart", "deframer", "framer", "buffer"):
        assert r["lut4_by_part"][part] > 20, (part, r["lut4_by_part"])
    assert r["wrapper"]["ff"] == 8 and r["wrapper"]["lut4"] < 20
    assert r["lut4"] >= 0.9 * sum(mods["modules"].values())
    assert r["lc"] >= max(r["lut4"], r["ff"]) and r["spram"] == 1 and r["ebr"] == 0
    assert r["io"] == 2 + L.IN_PINS + 8 + 2      # rx, tx, the input pins, fold, clock and reset
    assert f"| classifier | {r['lc']} |" in L.table(res)
