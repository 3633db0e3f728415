"""docs/core.md on Icarus, with the generated Verilog as an integrator gets it (`ternecg verilog`):

* the page's example testbench, copied from the page as it is, compiled with the core and run on
  real beats: every result equals the integer reference (class, logits, cycles, no error);
* the probe of tests/sim/core_probe.py: reset and ``model_id`` timing, the first transfer, the
  buffering with the output held (at P = 1 and 6), a reset in the middle of a beat (at a beat
  boundary and mid-beat) and the error result's timing;
* on Verilator (the speed harness): a result held for 100,000 cycles.

The latency table is checked on Verilator by tests/sim/test_period_sim.py.
"""

import re
import shutil
import subprocess

import numpy as np
import pytest
import torch

from ternecg.golden import fixture, integer_ref
from ternecg.golden.spec import modelfile
from ternecg.hw.generate import generate
from ternecg.hw.params import model_id
from ternecg.hw.top import Accelerator
from ternecg.paths import CHECKOUT

from core_probe import run_probe, words

pytestmark = [pytest.mark.sim,
              pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog not installed"),
              pytest.mark.skipif(CHECKOUT is None, reason="docs/ is part of a checkout")]

MODEL = modelfile.load()


@pytest.fixture(scope="module")
def cores(tmp_path_factory):
    root = tmp_path_factory.mktemp("core")
    out = {}
    for p in (1, 6):
        r = generate(None, p, root, name="top")
        out[p] = (r["verilog"], r["manifest_data"])
    return out


def decode(word, fields):
    out = {}
    for f in fields:
        v = (word >> f["offset"]) & ((1 << f["width"]) - 1)
        if f["signed"] and v >> (f["width"] - 1):
            v -= 1 << f["width"]
        out[f["name"]] = v
    return out


def golden(raw):
    tr = integer_ref.forward(MODEL, torch.as_tensor(np.asarray(raw, dtype=np.int64)))
    acc = Accelerator(MODEL, 6)
    from amaranth.hdl import Fragment
    Fragment.get(acc, None)
    return [{"cls": int(tr.cls[b]), "logits[0]": int(tr.logits[b][0]), "logits[1]": int(tr.logits[b][1]),
             "cycles": acc.engine_cycles({li: v["select"][b].tolist() for li, v in tr.mux.items()}), "err": 0}
            for b in range(len(raw))]


def test_the_example_runs_bit_exact(tmp_path):
    doc = (CHECKOUT / "docs" / "core.md").read_text()
    example = re.search(r"```verilog\n(.*?)```", doc, re.S).group(1)
    r = generate(None, 6, tmp_path / "gen")                       # the default name, ternecg_top
    man = r["manifest_data"]
    raw = fixture.load()["raw"][:2].tolist()                    # BEATS = 2: half the Icarus time
    (tmp_path / "ecg_example.v").write_text(example)
    (tmp_path / "beats.hex").write_text("".join(f"{w:x}\n" for w in words(raw)))
    subprocess.run(["iverilog", "-g2005", "-o", "sim", f"-Pecg_example.W={man['streams']['o']['width']}",
                    "-Pecg_example.BEATS=2",
                    "ecg_example.v", str(r["verilog"])], cwd=tmp_path, check=True, capture_output=True, text=True)
    subprocess.run(["vvp", "-n", "sim"], cwd=tmp_path, check=True, capture_output=True, text=True, timeout=1800)
    got = [decode(int(w, 16), man["streams"]["o"]["fields"])
           for w in (tmp_path / "results.hex").read_text().split()]
    assert got == golden(raw)


def test_reset_model_id_and_first_transfer(cores, tmp_path):
    verilog, man = cores[6]
    pr = run_probe(tmp_path, verilog, man["streams"]["o"]["width"],
                   words(fixture.load()["raw"][:1].tolist()), cycles=300)
    want = model_id(MODEL.sha256)
    assert pr.in_reset == []                                       # idle outputs, model_id 0
    assert pr.ready == 1                                           # i.ready rises in cycle 1
    assert pr.ids == [(2, want & 0xFFFF), (3, want)]               # 0 in cycles 0, 1
    assert pr.lasts == [(240, 239)]                                # samples taken in cycles 1..240


@pytest.mark.parametrize("parallel", [6, 1])
def test_buffering_with_the_output_held(cores, parallel, tmp_path):
    verilog, man = cores[parallel]
    compute = man["cycles_per_beat"]["worst"]
    pr = run_probe(tmp_path, verilog, man["streams"]["o"]["width"], words(fixture.load()["raw"][:8].tolist()),
                   hold=True, cycles=compute + 20_000)
    assert pr.end[1] == 960 and len(pr.lasts) == 4                 # 4 beats, then i.ready stays low
    assert pr.lasts[-1][0] < compute + 2_000 < pr.end[0] - 10_000


def test_result_held_for_100000_cycles():
    """The first result waits 100,000 cycles with ``o.ready`` low while six beats are offered
    (Verilator speed harness, P = 6): neither it nor ``valid`` changes (the harness counts every
    cycle that breaks the stream rule); 4 beats are taken during the hold and the computed beat
    waiting behind it comes out in the next cycle (docs/core.md, buffering); every result is
    bit-exact with its exact compute cycles."""
    from ternecg.sim.verify import Beats, Options, verify
    rep = verify(Beats.fixture(0, 6), Options(parallel=6, bench="harness", hold=100_000))
    assert rep.ok, rep.summary()
    first, taken = rep.result_cycles[0], rep.input_cycles
    assert first > 100_000
    assert taken[3] < first < taken[4]            # 960 samples (4 beats) taken during the hold
    assert rep.result_cycles[1] == first + 2      # the computed beat waiting behind it


@pytest.mark.long
def test_reset_mid_beat(cores, tmp_path):
    """A 1-cycle reset after 340 samples (100 into beat 1; beat 0 was computing): no result for
    beat 0; restarting at beat 1's first sample gives beats 1-3 bit-exact; resuming mid-beat gives
    an error result (3 cycles after the partial beat's last sample) and then beats 2-3."""
    verilog, man = cores[6]
    fields = man["streams"]["o"]["fields"]
    raw = fixture.load()["raw"][:4].tolist()
    want = golden(raw)
    pr = run_probe(tmp_path / "boundary", verilog, man["streams"]["o"]["width"], words(raw),
                   rst_at=340, resume=240, cycles=60_000)
    assert len(pr.resets) == 1
    assert [decode(p, fields) for _, p in pr.results] == want[1:]
    pr = run_probe(tmp_path / "mid", verilog, man["streams"]["o"]["width"], words(raw),
                   rst_at=340, resume=340, cycles=50_000)
    got = [decode(p, fields) for _, p in pr.results]
    assert got[0] == {"cls": 0, "logits[0]": 0, "logits[1]": 0, "cycles": 0, "err": 1}
    assert got[1:] == want[2:]
    partial_last = [c for c, w in pr.lasts if w == 479][0]
    assert pr.results[0][0] == partial_last + 3
