"""The normaliser's generated Verilog on Icarus and Verilator (cocotb), bit-exact vs golden.

The Verilog is generated once, each simulator model is built once (and reused across pytest
sessions and xdist workers, see ternecg.sim.runner), and the idle x back-pressure pattern reaches
the cocotb module in its one config object (:class:`ternecg.sim.tb.BenchConfig`), so it never
triggers a rebuild. The whole matrix runs on Icarus (every run includes the no-stall latency
test). Issue 16 dropped the Verilator runs (a Verilator build for the same Verilog): the
normaliser's Verilog runs on Verilator inside the whole accelerator (tests/sim/test_network_sim.py,
whose first hidden layer is computed from the normaliser's output) and in the board core
(tests/sim/test_board_e2e.py).

The normaliser with its sample RAM in an iCE40 SPRAM (``spram=True``, as on the iCEBreaker:
``SB_SPRAM256KA`` simulated with Yosys' iCE40 cell models) runs the same cocotb tests on Icarus,
among them the long ``o.ready``-low holds (the deselected SPRAM must keep its output).
"""

import pytest

from ternecg.hw.normalizer import Normalizer
from ternecg.hw import verilog
from ternecg.sim import runner
from ternecg.sim.gate import cells_sim
from ternecg.sim.tb import BenchConfig
from ternecg.sim.tests.test_normalizer_cocotb import make_vectors

TOPLEVEL = "normalizer"
TEST_MODULE = "ternecg.sim.tests.test_normalizer_cocotb"
MATRIX = [("none", "none"), ("random", "random"), ("none", "random"), ("random", "none"),
          ("fixed", "fixed")]
#: (simulator, idle, back-pressure): the whole matrix on Icarus
RUNS = [("icarus", i, b) for i, b in MATRIX]


@pytest.fixture(scope="module")
def normalizer_verilog():
    dut = Normalizer()
    out = runner.BUILD_ROOT / "verilog"
    with runner.locked(out / TOPLEVEL):
        return verilog.generate(dut, TOPLEVEL, out), dut


@pytest.fixture(scope="module")
def vectors_path(normalizer_verilog):
    _, dut = normalizer_verilog
    return runner.write_vectors(runner.BUILD_ROOT / "vectors" / "normalizer.npz",
                                **make_vectors(20, latency=dut.latency, beat_cycles=dut.beat_cycles))


_builds = {}


def _model(src, simulator):
    if simulator not in _builds:
        _builds[simulator] = runner.build([src], TOPLEVEL, simulator)
    return _builds[simulator]


@pytest.mark.sim
@pytest.mark.parametrize("simulator,idle,backpressure", RUNS, ids=["-".join(r) for r in RUNS])
def test_normalizer(normalizer_verilog, vectors_path, simulator, idle, backpressure):
    src, _ = normalizer_verilog
    cfg = BenchConfig(vectors=str(vectors_path), idle=idle, backpressure=backpressure, seed=1)
    results = _model(src, simulator).run(TEST_MODULE, config=cfg, run_name=f"{idle}-{backpressure}")
    assert results.is_file()


@pytest.fixture(scope="module")
def normalizer_spram_verilog():
    name = TOPLEVEL + "_spram"
    out = runner.BUILD_ROOT / "verilog"
    with runner.locked(out / name):
        return verilog.generate(Normalizer(spram=True), name, out)


#: (idle, back-pressure) of the SPRAM runs
SPRAM_RUNS = [("random", "random"), ("none", "none")]


@pytest.mark.sim
@pytest.mark.parametrize("idle,backpressure", SPRAM_RUNS, ids=["-".join(r) for r in SPRAM_RUNS])
def test_normalizer_spram(normalizer_spram_verilog, vectors_path, idle, backpressure):
    assert "SB_SPRAM256KA" in normalizer_spram_verilog.read_text()
    model = runner.build([normalizer_spram_verilog, cells_sim()], TOPLEVEL + "_spram", "icarus",
                         build_args=["-DNO_ICE40_DEFAULT_ASSIGNMENTS"])
    cfg = BenchConfig(vectors=str(vectors_path), idle=idle, backpressure=backpressure, seed=3)
    results = model.run(TEST_MODULE, config=cfg, run_name=f"{idle}-{backpressure}")
    assert results.is_file()


def test_port_names(tmp_path):
    dut = Normalizer()
    names = verilog.port_names(dut)
    verilog.generate(dut, TOPLEVEL, tmp_path)     # (uses dut)
    assert names == {"i.payload": "i__payload", "i.valid": "i__valid", "i.ready": "i__ready",
                     "o.payload": "o__payload", "o.valid": "o__valid", "o.ready": "o__ready",
                     "beat.payload": "beat__payload", "beat.valid": "beat__valid"}


def test_generate_is_deterministic(tmp_path):
    a = verilog.generate(Normalizer(), TOPLEVEL, tmp_path / "a").read_text()
    b = verilog.generate(Normalizer(), TOPLEVEL, tmp_path / "b").read_text()
    assert a == b
    assert "module normalizer(" in a
    for port in ("i__valid", "i__ready", "i__payload", "o__valid", "o__ready", "o__payload",
                 "clk", "rst"):
        assert port in a


def test_struct_payload_packing():
    """sim.tb.pack/unpack agree with Amaranth's flat layout packing (used for struct payloads,
    e.g. the network top's result stream, whose Verilog port is one flat o__payload vector)."""
    from amaranth.hdl import Const, signed
    from amaranth.lib import data

    from ternecg.sim.tb import pack, to_signed, unpack

    layout = data.StructLayout({"cls": 1, "logits": data.ArrayLayout(signed(16), 2)})
    for value in ({"cls": 1, "logits": [-5, 300]}, {"cls": 0, "logits": [-32768, 32767]}):
        bits = Const.cast(layout.const(value)).value
        assert pack(layout, value) == bits
        assert unpack(layout, bits) == value
    assert to_signed(0xFF, 8) == -1 and to_signed(0x7F, 8) == 127
