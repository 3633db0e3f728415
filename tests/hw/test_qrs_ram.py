"""hw/qrs_ram.py SinglePortRam: the read enable (data held while it is low) in ``lib.memory``,
the SPRAM's ports (chip select = re | we, narrow words padded), and its arguments."""

import pytest
from amaranth.hdl import Fragment, Instance
from amaranth.sim import Simulator

from ternecg.hw.qrs_ram import SinglePortRam

from spram_count import UP5K, sprams


def test_read_enable_holds_the_data():
    dut = SinglePortRam(depth=16, width=11, spram=False)
    log = []

    async def bench(ctx):
        for a in range(16):                             # write a, 3 * a + 5
            ctx.set(dut.addr, a)
            ctx.set(dut.wdata, 3 * a + 5)
            ctx.set(dut.we, 1)
            await ctx.tick()
        ctx.set(dut.we, 0)
        ctx.set(dut.addr, 4)
        await ctx.tick()                                # re (init 1): a read of word 4
        log.append(ctx.get(dut.rdata))
        ctx.set(dut.re, 0)
        for a in (9, 2, 15):                            # re low: the address moves, the data stays
            ctx.set(dut.addr, a)
            await ctx.tick()
            log.append(ctx.get(dut.rdata))
        ctx.set(dut.re, 1)
        await ctx.tick()
        log.append(ctx.get(dut.rdata))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert log == [17, 17, 17, 17, 50]


def test_spram_ports():
    ram = SinglePortRam(depth=256, width=11, spram=True)
    frag = Fragment.get(ram, None)
    inst = [f for f, *_ in frag.subfragments if isinstance(f, Instance)]
    assert len(inst) == 1 and inst[0].type == "SB_SPRAM256KA"
    ports = {name: value for name, (value, kind) in inst[0].ports.items()}
    assert len(ports["DATAIN"]) == 16 and len(ports["DATAOUT"]) == 16 and len(ports["ADDRESS"]) == 14
    assert repr(ports["CHIPSELECT"]) == "(| (sig re) (sig we))"


def test_platform_choice():
    assert sprams(SinglePortRam(depth=256, width=11)) == ["spram"]          # narrow words fit
    assert sprams(SinglePortRam(depth=256, width=17)) == []                 # too wide: lib.memory
    assert sprams(SinglePortRam(depth=1 << 15)) == []                       # too deep
    assert sprams(SinglePortRam(depth=256, width=11), None) == []


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(depth=256, width=17, spram=True), ValueError, "SPRAM is 16384 x 16, not 256 x 17"),
    (dict(depth=1 << 15, spram=True), ValueError, "SPRAM"),
    (dict(depth=100), ValueError, "power of two"),
    (dict(depth=256, spram="yes"), TypeError, "spram"),
])
def test_bad_arguments(kwargs, exc, match, no_unused_warning):
    with pytest.raises(exc, match=match):
        SinglePortRam(**kwargs)
