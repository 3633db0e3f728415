"""The conv engine's issue stage: the current tap's reads for every stream, and the taps' transfers."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .checks import Checked
from .engine_layout import Descriptor, Widths, check_schedule, descriptor_layout, select_shift
from .schedule import MODE_GRP
from .sequencer import tap_layout, tile_layout

__all__ = ["IssueStage", "context_layout", "read_layout", "needs_select_bits"]


def needs_select_bits(s):
    """Whether a result needs its select bit: some grouped MUX-skip block that is executed may
    have selected lanes (a block of one select bit is executed only when that bit is 0)."""
    from .engine_layout import _skip_bits
    return any(_skip_bits(ph, s.geometry, b) > 1 for ph in s.phases if ph.mode == MODE_GRP
               for b in range(ph.n_blocks))


def context_layout(s):
    """What a tile's results carry from the issue stage to the write-back: the tile's bases
    (:func:`~ternecg.hw.sequencer.tile_layout`) and, when needed, its lanes' select bits
    (``sel_bits[r]``: bit l of stream r is select bit ``sel + s_sel[r] + l``)."""
    w = Widths(s)
    fields = {k: v.shape for k, v in tile_layout(s)}
    if needs_select_bits(s):
        fields["sel_bits"] = data.ArrayLayout(unsigned(w.L), w.R)
    return data.StructLayout(fields)


def read_layout(s, word_width):
    """One stream's read request: memory, word, enable."""
    w = Widths(s)
    return data.StructLayout({"mem": unsigned(max(1, w.m)), "word": unsigned(word_width), "en": 1})


class IssueStage(Checked, wiring.Component):
    """Issues the sequencer's current tap: the feature-bank read of every stream and the weight-ROM
    read, and the tap's transfer on ``o``.

    For the tap ``(c, j)`` (``tap``: row, memory index and position of stream 0; ``tile``: its
    tile's bases) stream ``r`` reads position ``pos = tap.pos + s_pos[r]`` of slot ``in_slot + c
    + s_slot_in[r]``, i.e. memory ``(slot + pos) mod M``, word ``slot * lq_in + pos // M`` of the
    input bank (``rd[r]``, enabled when ``0 <= pos < lin`` and the stream has a channel in the
    block: ``in_range``), and all streams share the weight row ``tap.w``. The reads are
    synchronous, so their data arrive together with the tap's transfer on ``o`` one cycle later
    (:attr:`latency`). The stage advances (``advance``, which also steps the sequencer) when
    ``o`` is empty or taken; the read enables follow it, so read data stay while a tap waits.
    With a tile's last tap the tile's bases go into ``ctx``, which the tile's results read when
    they leave the lanes (they stay until the next tile's last tap, which cannot be issued
    before the results are taken).

    With ``Geometry.read_stages`` 2 (wide settings: hw/schedule.py ``STAGED_READ_PARALLEL``) the read
    requests, the weight row, the tap's flags and its tile's bases first go into registers, and
    the reads start from those one cycle later (so no path runs from the sequencer's counters
    through the address adders into the banks' crossbar); ``o`` then carries the tap two cycles
    after the sequencer offered it, and ``ctx`` changes when the tile's last tap reaches ``o``,
    as with one stage. Both stages move only with ``advance``.

    Parameters
    ----------
    schedule : :class:`~ternecg.hw.schedule.Schedule`
        The compiled schedule (widths, geometry).

    Members
    -------
    phase : ``In(descriptor_layout)``
        The current phase descriptor.
    issuing : ``In(1)``, tap : ``In(tap_layout)``, tile : ``In(tile_layout)``
        The sequencer's current tap.
    advance : ``Out(1)``
        The stage moves on in this cycle.
    selects : ``In(n_select + parallel)``
        The MUX-skip select bits (the lanes' bits go into ``ctx``).
    rd : ``Out(ArrayLayout(read_layout, R))``
        Per stream the read request to the input bank.
    w_addr : ``Out``, w_en : ``Out(1)``
        The weight-ROM read.
    o : ``Out(stream.Signature(StructLayout({"in_range", "first", "last"})))``
        One transfer per tap, with the read data: ``first`` and ``last`` tap of its tile.
    ctx : ``Out(context_layout)``
        The bases of the tile whose last tap was issued last.
    pending : ``Out(1)``
        Only with two stages: a tap is in the first (the engine's drain waits for it).

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @property
    def latency(self):
        """Cycles from a tap taken from the sequencer to its transfer on ``o``: the synchronous
        reads, after the registered requests with two stages (``Geometry.read_stages``)."""
        return self._s.geometry.read_stages

    @classmethod
    def check_arguments(cls, schedule):
        check_schedule("IssueStage", schedule)

    def __init__(self, schedule):
        s = self._s = schedule
        self._w = w = Widths(s)
        self.ctx_layout = context_layout(s)
        self.tap_layout = data.StructLayout({"in_range": unsigned(w.R), "first": 1, "last": 1})
        self._staged = s.geometry.read_stages == 2
        pending = {"pending": Out(1)} if self._staged else {}
        super().__init__({
            "phase": In(descriptor_layout(s)),
            "issuing": In(1),
            "tap": In(tap_layout(s)),
            "tile": In(tile_layout(s)),
            "advance": Out(1),
            "selects": In(w.n_sel + s.parallel),
            "rd": Out(data.ArrayLayout(read_layout(s, max(w.word)), w.R)),
            "w_addr": Out(w.w),
            "w_en": Out(1),
            "o": Out(stream.Signature(self.tap_layout)),
            "ctx": Out(self.ctx_layout),
            **pending,
        })

    def elaborate(self, platform):
        m = Module()
        s, w = self._s, self._w
        R, L, M = w.R, w.L, w.M
        cur = Descriptor(s, self.phase)
        tap, tile = self.tap, self.tile
        advance = self.advance
        m.d.comb += [advance.eq(~(self.o.valid & ~self.o.ready)),
                     *([] if self._staged else [self.w_addr.eq(tap.w)]), self.w_en.eq(advance)]

        # streams with a channel in this block (a partial last block may leave some without)
        reads = [Mux(tile.last_block, cur.last_reads[r], cur.s_reads[r]) for r in range(R)]
        in_range = Signal(R)
        words, mems = [], []
        for r in range(R):
            p = Signal(signed(w.pos + 1), name=f"pos{r}")
            m.d.comb += p.eq(tap.pos + cur.s_pos[r])
            ok = (p >= 0) & (p < cur.lin) & reads[r]
            m.d.comb += in_range[r].eq(ok)
            word = Signal(len(self.rd[r].word), name=f"word{r}")
            m.d.comb += word.eq(tap.row + cur.s_row_in[r] + (p >> w.m)[:w.pos - w.m + 1].as_unsigned())
            words.append(word)
            mems.append((tap.mod + cur.s_mod_in[r] + p[:w.m])[:w.m] if M > 1 else 0)
            if not self._staged:
                m.d.comb += [self.rd[r].word.eq(word), self.rd[r].en.eq(ok & advance & self.issuing)]
                if M > 1:
                    m.d.comb += self.rd[r].mem.eq(mems[r])

        def tile_ctx(ctx):
            # the bases of the tile whose last tap this is (and its lanes' select bits)
            out = [getattr(ctx, k).eq(getattr(tile, k)) for k, _ in tile_layout(s)]
            if "sel_bits" in self.ctx_layout.members:
                for r in range(R):
                    bits_r = (self.selects[:L] if select_shift(s) else
                              self.selects.bit_select(tile.sel + cur.s_sel[r], L))
                    out.append(ctx.sel_bits[r].eq(bits_r))
            return out

        if not self._staged:
            with m.If(advance):
                m.d.sync += [self.o.valid.eq(self.issuing), self.o.payload.in_range.eq(in_range),
                             self.o.payload.first.eq(tap.first), self.o.payload.last.eq(tap.last)]
                with m.If(self.issuing & tap.last):
                    m.d.sync += tile_ctx(self.ctx)
            return m

        # Two stages: the tap's requests, flags and (with its tile's last tap) its tile's bases go
        # into registers ``q``; the banks and the weight ROM read from those, and ``o`` takes the
        # tap one cycle later. Both move only with ``advance``, so a waiting tap's data stay.
        rd_q = Signal.like(self.rd, name="rd_q")
        w_q = Signal.like(self.w_addr, name="w_q")
        q = Signal(self.tap_layout, name="tap_q")
        q_valid = Signal(name="tap_q_valid")
        ctx_q = Signal(self.ctx_layout, name="ctx_q")
        m.d.comb += [self.rd.eq(rd_q), self.w_addr.eq(w_q), self.pending.eq(q_valid)]
        for r in range(R):
            m.d.comb += self.rd[r].en.eq(rd_q[r].en & advance)
        with m.If(advance):
            m.d.sync += [q_valid.eq(self.issuing), q.in_range.eq(in_range), q.first.eq(tap.first),
                         q.last.eq(tap.last), w_q.eq(tap.w)]
            for r in range(R):
                m.d.sync += [rd_q[r].word.eq(words[r]), rd_q[r].mem.eq(mems[r]),
                             rd_q[r].en.eq(in_range[r] & self.issuing)]
            with m.If(self.issuing & tap.last):
                m.d.sync += tile_ctx(ctx_q)
            m.d.sync += [self.o.valid.eq(q_valid), self.o.payload.eq(q)]
            with m.If(q_valid & q.last):
                m.d.sync += self.ctx.eq(ctx_q)
        return m
