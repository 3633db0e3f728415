"""cocotb bench of the generated front end (top ``qrs_detector``) and monitor (top ``monitor``).

Run by tests/sim/test_monitor_sim.py, which computes the expected outputs with the golden
references and names them in the bench config (this module imports neither golden nor hw). The
bench is event-driven (Python runs per sample and per output, not per cycle), so a whole 60 s
excerpt runs in seconds on Verilator. Vectors:

* ``samples``: the input, one record (``last`` on its final sample), and ``samples2``: the record
  sent after a reset in ``reset_mid_stream``;
* ``expected`` / ``expected2``: one row per output: the payload's fields in ``fields`` order
  (``[name, lsb, width, signed]`` rows), and for the detector the number of samples accepted
  before the output (it must come before the next sample is taken).

Options (:class:`MonitorBench`): the shared ``idle``, ``backpressure``, ``seed``, ``vectors``;
``out`` (the output stream: ``peaks`` or ``beats``), ``timing`` (check the sample count),
``hold`` (ready held low this many cycles at the first output: its payload must not change) and
``reset_at`` (samples before the reset in ``reset_mid_stream``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from ternecg.sim.tb import (TB, BenchConfig, StreamRule, config, pattern, read_bit, read_word, to_signed,
                            vectors)


@dataclass(frozen=True)
class MonitorBench(BenchConfig):
    out: str = "peaks"
    timing: bool = True
    hold: int = 0
    reset_at: int = 0


def _decode(bits, fields):
    return tuple((to_signed(bits >> lsb, w) if signed else (bits >> lsb) & ((1 << w) - 1))
                 for _, lsb, w, signed in fields)


class EventSink:
    """Takes an output stream's transfers under a back-pressure pattern, sleeping while ``valid``
    is low; ``hold`` cycles of ``ready`` low at the first transfer, the payload checked stable."""

    def __init__(self, tb, prefix, fields, *, backpressure, seed, hold=0, count=None):
        dut = tb.dut
        self.tb, self.prefix, self.fields = tb, prefix, fields
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.pattern = pattern(backpressure, seed)
        self.hold = hold
        self.count = count or (lambda: 0)
        self.items = []
        self.rule = StreamRule(prefix)              # the stream rule on every cycle (sim/tb.py)
        self.ready.value = 0

    async def recv(self, n, *, timeout_cycles=50_000_000):
        r = 0
        held = None
        quiet = 0
        while len(self.items) < n:
            await ReadOnly()
            if not read_bit(self.valid):
                self.rule.cycle(0, r)
                await RisingEdge(self.valid)
                r = self._next_ready(held)
                self.ready.value = r
                continue
            bits = read_word(self.payload)
            self.rule.cycle(1, r, bits)
            if held is not None:
                assert bits == held, f"{self.prefix}: payload changed while held ({held:#x} -> {bits:#x})"
            if r:
                self.items.append((_decode(bits, self.fields), self.count()))
                held = None
            elif self.hold and held is None and not self.items:
                held = bits
            await RisingEdge(self.tb.clk)
            if held is not None:
                self.hold -= 1
                if self.hold <= 0:
                    held = None
                    self.hold = 0
            r = self._next_ready(held)
            self.ready.value = r
            quiet += 1
            assert quiet < timeout_cycles, f"{self.prefix}: no output for {timeout_cycles} cycles"
        self.ready.value = 0
        return self.items

    def _next_ready(self, held):
        if held is not None or (self.hold and not self.items):
            return 0
        return int(next(self.pattern))


def _fields():
    return [(str(n), int(l), int(w), bool(int(s))) for n, l, w, s in vectors()["fields"]]


async def _run(tb, cfg, samples, expected, *, hold):
    src = tb.sources["samples"]
    sink = EventSink(tb, cfg.out, _fields(), backpressure=cfg.backpressure, seed=cfg.seed + 7,
                     hold=hold, count=lambda: len(src.accepted))
    words = [int(s) | (int(i == len(samples) - 1) << 11) for i, s in enumerate(samples)]
    sender = cocotb.start_soon(src.send(words))
    got = await sink.recv(len(expected))
    await sender
    width = len(sink.fields)
    want = [(tuple(int(x) for x in row[:width]), int(row[width])) for row in expected]
    if not cfg.timing:
        got = [(g, 0) for g, _ in got]
        want = [(w, 0) for w, _ in want]
    bad = [(k, g, w) for k, (g, w) in enumerate(zip(got, want)) if g != w]
    assert not bad, f"{len(bad)} of {len(want)} outputs differ (index, got, expected): {bad[:4]}"
    return got


def _tb(dut, cfg):
    tb = TB(dut)
    tb.source("samples", idle=cfg.idle, wake_on_ready=True)
    return tb


@cocotb.test()
async def record_matches_golden(dut):
    """The vectors' record: every output equal to golden (and, for the detector, taken before the
    sample after the one that reports it), under the config's idle / back-pressure patterns and
    a hold of ``hold`` cycles on the first output."""
    cfg = config(MonitorBench)
    tb = _tb(dut, cfg)
    await tb.start()
    v = vectors()
    await _run(tb, cfg, v["samples"], v["expected"], hold=cfg.hold)


@cocotb.test()
async def reset_mid_stream(dut):
    """``reset_at`` samples of the record, a reset, then ``samples2`` as a new record: its outputs
    equal golden's (the reset leaves nothing behind)."""
    cfg = config(MonitorBench)
    tb = _tb(dut, cfg)
    await tb.start()
    v = vectors()
    src = tb.sources["samples"]
    await src.send([int(s) for s in v["samples"][:cfg.reset_at]])
    await tb.cycles(50)
    await tb.reset(3)
    src.accepted.clear()
    await _run(tb, cfg, v["samples2"], v["expected2"], hold=0)
