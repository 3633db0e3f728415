"""Framer(rom=True), the monitor's (its bytes from a ROM in block RAM), against Framer(rom=False)
on the same random stimulus, cycle for cycle (``tx``, the ``results``/``seq`` handshakes,
``last_cls``), both protocol versions; the frames decode with the protocol model and carry what
was offered (every result, in order; the STATUS token and counters; the ERROR events)."""

import random

import pytest
from amaranth.hdl import Elaboratable, Module, signed, unsigned
from amaranth.lib import data
from amaranth.sim import Simulator

from ternecg.boards import protocol as P
from ternecg.boards.framer import Framer

V1 = data.StructLayout({"cls": unsigned(1), "logits": data.ArrayLayout(signed(14), 2), "cycles": unsigned(17)})
V2 = data.StructLayout({"index": unsigned(32), "cls": unsigned(2), "logits": data.ArrayLayout(signed(20), 3)})
COUNTERS = {"next": 32, "beats": 32, "ended": 16, "done": 16, "overruns": 16, "room": 16}


class Pair(Elaboratable):
    def __init__(self, version):
        layout, n = (V1, 2) if version == P.VERSION else (V2, 3)
        self.duts = [Framer(layout, n_classes=n, parallel=3, model_id=None, version=version, rom=rom)
                     for rom in (False, True)]

    def elaborate(self, platform):
        m = Module()
        m.submodules.tree, m.submodules.rom = self.duts
        return m


@pytest.mark.parametrize("version", [P.VERSION, P.VERSION_MONITOR])
def test_rom_framer_is_the_multiplexer_framer(version):
    v1 = version == P.VERSION
    pair = Pair(version)
    rng = random.Random(version)
    out = bytearray()
    offered = []

    async def bench(ctx):
        def both(name, value):
            for dut in pair.duts:
                ctx.set(getattr(dut, name) if isinstance(name, str) else name(dut), value)

        both("model_id", 0x12345678)
        result = None
        seq = 0
        for cycle in range(6000):
            stall = cycle // 1500 % 2                  # phases: ready most cycles / long stalls
            ready = rng.random() < (0.9, 0.05)[stall]
            event = rng.random() < 0.02
            ping = rng.random() < 0.01
            both(lambda d: d.tx.ready, ready)
            both(lambda d: d.event.valid, event)
            both(lambda d: d.event.payload, {"code": rng.choice(list(P.ERROR_NAMES)), "detail": rng.randrange(256)})
            both(lambda d: d.status.valid, ping)
            both(lambda d: d.status.payload, rng.randrange(256))
            if not v1:
                for name, width in COUNTERS.items():
                    both(name, rng.randrange(1 << width))
            if result is None and rng.random() < 0.05:  # a result, held until taken
                seq = (seq + 1) % 256
                if v1:
                    result = {"cls": rng.randrange(2), "logits": [rng.randrange(-8192, 8192) for _ in range(2)],
                              "cycles": rng.randrange(1 << 17)}
                else:
                    result = {"index": rng.randrange(1 << 32), "cls": rng.randrange(3),
                              "logits": [rng.randrange(-(1 << 19), 1 << 19) for _ in range(3)]}
                offered.append((seq, result))
            both(lambda d: d.results.valid, result is not None)
            if result is not None:
                both(lambda d: d.results.payload, result)
            if v1:
                both(lambda d: d.seq.valid, result is not None)
                both(lambda d: d.seq.payload, seq)
            ports = [(d.tx.valid, d.tx.payload, d.results.ready, d.last_cls) + ((d.seq.ready,) if v1 else ())
                     for d in pair.duts]
            got = [tuple(ctx.get(p) for p in ps) for ps in ports]
            got = [(g[0], g[1] if g[0] else None) + g[2:] for g in got]    # the payload only when valid
            assert got[0] == got[1], (cycle, got)
            if got[0][0] and ready:
                out.append(got[0][1])
            if got[0][2]:
                result = None
            await ctx.tick()

    sim = Simulator(pair)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    if v1:
        d = P.Decoder(accept=P.DEVICE_TYPES, lengths={P.STATUS: P.STATUS_LEN, P.ERROR: P.ERROR_LEN})
    else:
        d = P.Decoder(accept=P.MONITOR_DEVICE_TYPES, lengths={P.STATUS: P.STATUS2_LEN, P.ERROR: P.ERROR_LEN},
                      version=P.VERSION_MONITOR)
    events = d.feed(bytes(out))
    assert events and all(isinstance(e, P.Frame) for e in events), events[:3]
    frames = [e.parse() for e in events]
    kinds = {type(f).__name__ for f in frames}
    status = "Status" if v1 else "MonitorStatus"
    assert kinds == {"Error", status, "Result" if v1 else "BeatEvent"}, kinds
    sent = [f for f in frames if type(f).__name__ in ("Result", "BeatEvent")]
    assert len(sent) >= 20
    for f, (seq, r) in zip(sent, offered):
        if v1:
            assert f == P.Result(seq, r["cls"], r["logits"], r["cycles"])
        else:
            assert f == P.BeatEvent(r["index"], r["cls"], r["logits"])
    assert all(f.model_id == 0x12345678 for f in frames if type(f).__name__ == status)


def test_the_monitors_frame_rom_is_one_ice40_block_ram():
    """A four-class monitor framer (version 2, the shipped four-class models' beat: 32-bit index,
    four logits of up to 32 bits, so 4 + 1 + 16 result bytes, STATUS's counters and model id: 40-odd
    variable bytes), in its generated RTLIL: one frame ROM of 16-bit words, at most 256 of them,
    i.e. one iCE40 block RAM (256 x 16): the word holds the variable byte's number, not one enable
    bit each. (The monitor build's report checks the block RAM itself: test_monitor_patch.py.)"""
    import re

    from amaranth.back import rtlil
    from amaranth.hdl import Signal

    beat = data.StructLayout({"index": unsigned(32), "cls": unsigned(2), "logits": data.ArrayLayout(signed(19), 4)})
    framer = Framer(beat, n_classes=4, parallel=1, model_id=None, version=P.VERSION_MONITOR, rom=True)
    ports = [v for _, _, v in framer.signature.flatten(framer) if isinstance(v, Signal)]
    mems = re.findall(r"memory width (\d+) size (\d+)", rtlil.convert(framer, name="framer", ports=ports))
    assert len(mems) == 1, mems
    width, depth = map(int, mems[0])
    assert width == 16 and depth <= 256
