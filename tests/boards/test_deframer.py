"""Deframer: on a random damaged byte stream (boards/fuzz.py's generator) its events, beats and PINGs
are exactly what the Python decoder predicts (boards/protocol.py); BUSY when the buffer is in use."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from ternecg.boards import fuzz
from ternecg.boards import protocol as P
from ternecg.boards.deframer import Deframer
from ternecg.golden import fixture


def run(dut, events, busy_cycles=(), snaps=None):
    """Drive ``events`` (kind, byte, gap) as the fuzz harness does; returns the outputs in order:
    ("error", code, detail), ("beat", seq), ("ping", token), and the sample writes. ``snaps``: a
    list that gets, per beat, its codes word and the buffer's samples (the writes' image)."""
    out, writes = [], []
    image = [None] * P.WINDOW
    busy_cycles = set(busy_cycles)

    async def monitor(ctx):
        async for _, _, ev, code, detail, beat, seq, codes, ping, token, wr, addr, data in ctx.tick().sample(
                dut.event.valid, dut.event.payload.code, dut.event.payload.detail,
                dut.beat.valid, dut.beat.payload.seq, dut.beat.payload.codes, dut.ping.valid, dut.ping.payload,
                dut.wr.valid, dut.wr.payload.addr, dut.wr.payload.data):
            if ev:
                out.append(("error", code, detail))
            if beat:
                out.append(("beat", seq))
                if snaps is not None:
                    snaps.append((codes, list(image)))
            if ping:
                out.append(("ping", token))
            if wr:
                writes.append((addr, data))
                image[addr] = data

    async def bench(ctx):
        cycle = 0
        for kind, value, gap in events:
            for _ in range(gap):
                ctx.set(dut.busy, cycle in busy_cycles)
                await ctx.tick()
                cycle += 1
            signal = dut.rx.valid if kind == fuzz.BYTE else dut.framing if kind == fuzz.FRAMING else dut.overrun
            ctx.set(signal, 1)
            ctx.set(dut.rx.payload, value)
            ctx.set(dut.busy, cycle in busy_cycles)
            await ctx.tick()
            cycle += 1
            ctx.set(signal, 0)
        await ctx.tick().repeat(dut.timeout_cycles + 10)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(monitor)
    sim.add_testbench(bench)
    sim.run()
    return out, writes


@pytest.mark.parametrize("rr_bits, n_codes, seed, n_bytes", [(0, 3, 10, 2500), (4, 3, 34, 2500),
                                                             (4, 4, 16, 5000), (4, 5, 10, 5000)])
def test_random_damaged_stream_as_predicted(rr_bits, n_codes, seed, n_bytes):
    """A few thousand bytes of every kind of damage (a short timeout keeps the simulation short;
    the seeds are ones whose stream has every event below); BEAT_RR frames with three codes, four
    (the samples' bytes then come at the other parity) or five (a model with the template and the
    irregularity codes; odd again)."""
    fx = fixture.load()
    rr = np.concatenate([fx["rr"], (fx["rr"][:, :1] * 5 + 3) % 16, (fx["rr"][:, 1:2] * 7 + 1) % 16], 1)[:, :n_codes]
    stim = fuzz.generate(n_bytes=n_bytes, seed=seed, raws=fx["raw"], rr=rr, rr_bits=rr_bits, uart=False,
                         beat_gap=0, ping_spacing=0, timeout=200)
    dut = Deframer(timeout_cycles=stim.timeout, rr_bits=rr_bits, n_codes=n_codes)
    snaps = []
    got, _ = run(dut, stim.events, snaps=snaps)
    want = []
    for o in fuzz.predict(stim.events, rr_bits=rr_bits, timeout=stim.timeout, uart=False, idle_after=True,
                          n_codes=n_codes):
        want.append(("error", o[1], o[2]) if o[0] in ("error", "range") else o[:2])
    assert got == want
    kinds = {P.ERROR_NAMES[o[1]] for o in want if o[0] == "error"}
    assert {"SYNC", "VERSION", "TYPE", "LENGTH", "CRC", "TIMEOUT", "OVERRUN", "RANGE"} <= kinds
    assert sum(o[0] == "beat" for o in got) >= 1 and sum(o[0] == "ping" for o in got) >= 1
    # every accepted beat: its codes (code f in bits [f*b, (f+1)*b)) and its 240 samples in place
    assert len(snaps) == len(stim.beats)
    for (codes, image), (_, index, _) in zip(snaps, stim.beats):
        assert codes == sum(int(c) << (rr_bits * f) for f, c in enumerate(rr[index])) if rr_bits else True
        assert image == [int(v) for v in fx["raw"][index]]


def test_busy_and_precedence():
    """A BEAT whose LEN arrives while the buffer is in use is BUSY (with its seq); a CRC error
    takes precedence; samples are written as they arrive (value and address)."""
    samples = [(37 * k) % 2048 for k in range(P.WINDOW)]
    good = P.encode_beat(9, samples)
    bad_crc = bytearray(P.encode_beat(10, samples))
    bad_crc[-1] ^= 1
    events = [(fuzz.BYTE, b, 0) for b in good + bytes(bad_crc) + good]
    dut = Deframer(timeout_cycles=100)
    busy = range(len(good), 3 * len(good))       # busy during the 2nd and 3rd frames
    got, writes = run(dut, events, busy_cycles=busy)
    assert got == [("beat", 9), ("error", P.E_CRC, P.BEAT), ("error", P.E_BUSY, 9)]
    assert writes[:P.WINDOW] == list(enumerate(samples))


@pytest.mark.parametrize("timeout", [1, 2, 3, 4, 6, 7, 8, 15, 16, 255])
def test_timeout_exact(timeout):
    """The inter-byte timer fires after exactly ``timeout_cycles`` idle cycles, as the Python
    decoder predicts: a byte ``timeout_cycles - 1`` cycles after the last one continues the frame,
    one ``timeout_cycles`` after it comes too late (one TIMEOUT). The values include 2^w - 1 and
    2^w (the edges of a counter's or an LFSR's width), for any later change of the timer."""
    dut = Deframer(timeout_cycles=timeout)
    events = [(fuzz.BYTE, P.SOF, 0), (fuzz.BYTE, P.VERSION, timeout - 1), (fuzz.BYTE, P.PING, timeout)]
    got, _ = run(dut, events)
    want = [("error", o[1], o[2]) if o[0] in ("error", "range") else o[:2]
            for o in fuzz.predict(events, rr_bits=0, timeout=timeout, uart=False, idle_after=True)]
    assert got == want
    assert [o[1] for o in got].count(P.E_TIMEOUT) == 1


def test_timer_lfsr_has_the_full_period():
    """The inter-byte timer's LFSR (boards/deframer.py) never repeats a state before it times out:
    for every width, the state 1 comes back after exactly 2^w - 1 steps and after no divisor of
    that (the jump to the timeout state, checked against stepping one by one)."""
    from ternecg.boards.deframer import _LFSR_TAPS, _lfsr_after

    def step(w, taps, s):
        fb = 0
        for t in taps:
            fb ^= (s >> (t - 1)) & 1
        return ((s << 1) | fb) & ((1 << w) - 1)

    def primes(n):
        out, p = set(), 2
        while p * p <= n:
            while n % p == 0:
                out.add(p)
                n //= p
            p += 1
        return out | ({n} if n > 1 else set())

    assert sorted(_LFSR_TAPS) == list(range(2, 33))
    for w, taps in _LFSR_TAPS.items():
        s = 1
        for k in range(40):
            assert _lfsr_after(w, taps, 1, k) == s
            s = step(w, taps, s)
        period = (1 << w) - 1
        assert _lfsr_after(w, taps, 1, period) == 1
        assert all(_lfsr_after(w, taps, 1, period // p) != 1 for p in primes(period))


@pytest.mark.parametrize("kwargs, exc", [({"timeout_cycles": 0}, ValueError),
                                         ({"timeout_cycles": (1 << 32) - 1}, ValueError),
                                         ({"timeout_cycles": 10, "rr_bits": 9}, ValueError),
                                         ({"timeout_cycles": 10, "rr_bits": 4, "n_codes": 0}, ValueError),
                                         ({"timeout_cycles": 10, "rr_bits": 4, "n_codes": 9}, ValueError),
                                         ({"timeout_cycles": 1.5}, TypeError)])
def test_bad_arguments(kwargs, exc, no_unused_warning):
    with pytest.raises(exc, match="Deframer"):
        Deframer(**kwargs)
