"""The link's beat buffer (boards/beat_buffer.py) in generated Verilog on Icarus, in an iCE40 SPRAM
(``spram=True``, as on the iCEBreaker: ``SB_SPRAM256KA`` with Yosys' cell models) and in
``lib.memory``: beats bit-exact through long ``samples.ready``-low holds
(sim/tests/test_beat_buffer_cocotb.py). The buffer's always-ready inputs have no ready port, so a
thin wrapper (:class:`BufferBench`) gives the bench plain streams."""

import pytest
from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ternecg.boards.beat_buffer import BeatBuffer
from ternecg.hw import verilog
from ternecg.sim import runner
from ternecg.sim.gate import cells_sim
from ternecg.sim.tb import BenchConfig

TEST_MODULE = "ternecg.sim.tests.test_beat_buffer_cocotb"
WINDOW = 240


class BufferBench(wiring.Component):
    """``BeatBuffer(WINDOW, spram=spram)`` with ``wr`` and ``commit`` as streams whose ready is 1."""

    def __init__(self, spram):
        self._buf = BeatBuffer(WINDOW, spram=spram)
        sig = self._buf.signature.members
        super().__init__({
            "wr": In(stream.Signature(sig["wr"].signature.members["payload"].shape)),
            "commit": In(stream.Signature(8)),
            "start": In(1),
            "seq": Out(sig["seq"].signature),
            "samples": Out(sig["samples"].signature),
            "full": Out(1),
            "feeding": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.buffer = buf = self._buf
        m.d.comb += [buf.wr.valid.eq(self.wr.valid), buf.wr.payload.eq(self.wr.payload),
                     self.wr.ready.eq(1),
                     buf.commit.valid.eq(self.commit.valid), buf.commit.payload.eq(self.commit.payload),
                     self.commit.ready.eq(1), buf.start.eq(self.start),
                     self.full.eq(buf.full), self.feeding.eq(buf.feeding)]
        wiring.connect(m, buf.seq, wiring.flipped(self.seq))
        wiring.connect(m, buf.samples, wiring.flipped(self.samples))
        return m


RUNS = [(True, "random"), (True, "none"), (False, "random")]


@pytest.mark.sim
@pytest.mark.parametrize("spram,idle", RUNS, ids=[f"{'spram' if s else 'ebr'}-{i}" for s, i in RUNS])
def test_beat_buffer(spram, idle):
    name = "beat_buffer_bench" + ("_spram" if spram else "")
    out = runner.BUILD_ROOT / "verilog"
    with runner.locked(out / name):
        src = verilog.generate(BufferBench(spram), name, out)
    assert ("SB_SPRAM256KA" in src.read_text()) == spram
    sources, args = ([src, cells_sim()], ["-DNO_ICE40_DEFAULT_ASSIGNMENTS"]) if spram else ([src], [])
    model = runner.build(sources, name, "icarus", build_args=args)
    model.run(TEST_MODULE, config=BenchConfig(idle=idle, seed=4), run_name=idle)
