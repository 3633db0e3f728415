"""BootReader: the model id words from a synchronous ROM after reset, then `booted`."""

import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from ternecg.hw.boot_reader import BootReader


class Harness(Elaboratable):
    def __init__(self, words, init):
        self.boot = BootReader(words)
        self.rom = Memory(shape=16, depth=len(init), init=init)

    def elaborate(self, platform):
        m = Module()
        m.submodules.boot = boot = self.boot
        m.submodules.rom = rom = self.rom
        rp = rom.read_port()
        m.d.comb += [rp.addr.eq(boot.addr), boot.data.eq(rp.data)]
        return m


@pytest.mark.parametrize("words", [1, 2, 3])
def test_reads_the_id_then_boots(words):
    init = [0x1234, 0xABCD, 0x0F0F, 0x7777][:words] + [0xFFFF] * 4
    h = Harness(words, init)
    seen = []

    async def bench(ctx):
        for _ in range(words + 4):
            seen.append((ctx.get(h.boot.booted), ctx.get(h.boot.model_id)))
            await ctx.tick()

    sim = Simulator(h)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    want = sum(w << (16 * k) for k, w in enumerate(init[:words]))
    booted_at = [c for c, (b, _) in enumerate(seen) if b][0]
    assert booted_at == h.boot.latency == words + 1
    assert all(mid == want for b, mid in seen if b)


def test_bad_arguments(no_unused_warning):
    with pytest.raises(ValueError, match="BootReader words must be an integer >= 1, not 0"):
        BootReader(0)
