"""The normaliser's generated Verilog on Icarus and Verilator (cocotb), bit-exact vs golden.

The Verilog is generated once, each simulator model is built once (and reused across pytest
sessions, see ternecg.sim.runner), and the idle x back-pressure matrix is passed to the cocotb
module through environment variables, so it never triggers a rebuild.
"""

import pytest

from ternecg.hw.normalizer import Normalizer
from ternecg.sim import runner
from ternecg.hw import verilog
from ternecg.sim.tests.test_normalizer_cocotb import make_vectors

TOPLEVEL = "normalizer"
TEST_MODULE = "ternecg.sim.tests.test_normalizer_cocotb"
MATRIX = [("none", "none"), ("random", "random"), ("none", "random"), ("random", "none"),
          ("fixed", "fixed")]


@pytest.fixture(scope="module")
def normalizer_verilog():
    dut = Normalizer()
    return verilog.generate(dut, TOPLEVEL, runner.BUILD_ROOT / "verilog"), dut


@pytest.fixture(scope="module")
def vectors_path():
    return runner.write_vectors(runner.BUILD_ROOT / "vectors" / "normalizer.npz", **make_vectors(20))


@pytest.fixture(scope="module", params=runner.SIMULATORS)
def model(request, normalizer_verilog):
    src, _ = normalizer_verilog
    return runner.build([src], TOPLEVEL, request.param)


@pytest.mark.parametrize("idle,backpressure", MATRIX, ids=[f"{i}-{b}" for i, b in MATRIX])
def test_normalizer(model, normalizer_verilog, vectors_path, idle, backpressure):
    _, dut = normalizer_verilog
    env = {"SIM_IDLE": idle, "SIM_BACKPRESSURE": backpressure, "SIM_SEED": 1,
           "SIM_VECTORS": vectors_path, "SIM_LATENCY": dut.latency,
           "SIM_BEAT_CYCLES": dut.beat_cycles}
    results = model.run(TEST_MODULE, extra_env=env, run_name=f"{idle}-{backpressure}")
    assert results.is_file()


def test_port_names():
    dut = Normalizer()
    names = verilog.port_names(dut)
    verilog.generate(dut, TOPLEVEL, runner.BUILD_ROOT / "verilog")     # (uses dut)
    assert names == {"i.payload": "i__payload", "i.valid": "i__valid", "i.ready": "i__ready",
                     "o.payload": "o__payload", "o.valid": "o__valid", "o.ready": "o__ready"}


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
