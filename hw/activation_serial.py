"""Threshold activation, area-optimised: one comparator and one threshold ROM, b cycles per result.

Same interface, arithmetic and latency as :class:`~ternecg.hw.activation.ActivationUnit`, but the
binary search runs its b steps one after another on a single ROM holding every channel's
``Q = 2^b - 1`` thresholds (entry ``channel * 2^b + j`` is ``T_j``). It accepts a new
accumulator every ``interval = b + 1`` cycles, which suffices whenever the engine takes at least
that many cycles per result (the single-lane setting: every pass has at least 5 taps per output),
and it needs about ``2^b * channels * 16 / 4096`` block RAMs instead of one ROM per search stage.
"""

from amaranth.hdl import C, Cat, Module, Mux, Signal, signed
from amaranth.lib.memory import Memory

from .activation import ActivationUnit
from .params import ROM_ATTRS

__all__ = ["SerialActivationUnit"]


class SerialActivationUnit(ActivationUnit):
    """Threshold activation with one comparator and one ROM: ``act_bits`` cycles per result.

    The same parameters, members, arithmetic, :attr:`latency` and argument checks as
    :class:`~ternecg.hw.activation.ActivationUnit`; it accepts one input every :attr:`interval`
    cycles (``i.ready`` is low while a search runs or a result waits on ``o``).

    Parameters
    ----------
    thresholds : list of list of int
        One list per activation channel, ``2^act_bits - 1`` ascending integers each.
    acc_width, act_bits, tag_width : int
        As for :class:`~ternecg.hw.activation.ActivationUnit` (keyword-only).

    Members
    -------
    i : ``In(stream.Signature(StructLayout({"channel", "acc", "tag"})))``
        Accumulators to activate, one per transfer.
    o : ``Out(stream.Signature(StructLayout({"q", "tag"})))``
        One activation per accepted input, in input order; the payload is stable while
        ``o.valid`` and not ``o.ready``.
    """

    @property
    def latency(self):
        """Cycles from ``i`` accepted to ``o.valid``: one ROM read + compare per bit, then output."""
        return self._act_bits + 1

    @property
    def interval(self):
        """Cycles between accepted inputs at full speed (``o.ready`` high)."""
        return self._act_bits + 1

    def rom_init(self, stage=None):
        """Entry ``channel * 2^b + j`` holds ``T_j`` (entry 0 of each channel is unused), so the
        ROM address is the channel and the candidate index side by side: no adder on the path."""
        return [v for row in self._thresholds for v in [0] + row]

    def rom_images(self):
        return [self.rom_init()]

    def elaborate(self, platform):
        m = Module()
        b = self._act_bits
        m.submodules.rom = rom = Memory(data=self.rom_data[0], attrs=ROM_ATTRS)
        rd = rom.read_port(domain="sync")

        chan = Signal(self._chan_width, reset_less=True)
        acc = Signal(signed(self._acc_width), reset_less=True)
        tag = Signal(self._tag_width, reset_less=True)
        q = Signal(b, reset_less=True)
        first = C(1 << (b - 1), b)
        # ``cand``: the candidate index whose threshold the ROM returns in this cycle (``first``
        # outside a search); ``probe``: one-hot, the bit of the result that this cycle's compare
        # decides (0 outside a search). The next candidate keeps the decided bits, takes the
        # compare at the probe's bit and sets the bit below it: one LUT per address bit after the
        # comparator, and the address never waits for ``accept`` (the end of the ready chain).
        cand = Signal(b, init=1 << (b - 1))
        probe = Signal(b)
        searching = Signal()
        o_valid = Signal()

        accept = Signal()
        m.d.comb += [
            self.i.ready.eq(~searching & (~o_valid | self.o.ready)),
            accept.eq(self.i.valid & self.i.ready),
            self.o.valid.eq(o_valid),
            self.o.payload.q.eq(q),
            self.o.payload.tag.eq(tag),
            rd.en.eq(1),
            searching.eq(probe != 0),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += o_valid.eq(0)

        bit = Signal()
        m.d.comb += bit.eq(acc >= rd.data)
        next_cand = Signal(b)
        for k in range(b):
            above = probe[k + 1] if k + 1 < b else 0
            m.d.comb += next_cand[k].eq(Mux(probe[k], bit, cand[k] | above))
        # outside a search the address is the first candidate of the offered channel, read whether
        # or not it is taken (a ROM read is harmless; the search's first compare uses the read of
        # the accepting cycle)
        m.d.comb += rd.addr.eq(Cat(next_cand, Mux(searching, chan, self.i.payload.channel)))
        with m.If(accept):
            m.d.sync += [chan.eq(self.i.payload.channel), acc.eq(self.i.payload.acc),
                         tag.eq(self.i.payload.tag), cand.eq(first), probe.eq(first)]
        with m.Elif(searching):
            m.d.sync += [cand.eq(next_cand), probe.eq(probe >> 1)]
            with m.If(probe[0]):
                m.d.sync += [q.eq(next_cand), cand.eq(first), o_valid.eq(1)]
        return m
