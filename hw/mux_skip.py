"""The MUX-skip unit: global average pool, per-channel select, bit-shift average, write-back.

Every activation result of the engine passes through this unit on its way into a feature bank
(see :class:`MuxSkip`).
"""

from amaranth import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .checks import Checked, check_bool, check_int
from .schedule import MODE_DW, MODE_GRP

__all__ = ["MuxSkip"]


class MuxSkip(Checked, wiring.Component):
    """Global average pool, per-channel select and bit-shift average of the MUX-skip blocks, for
    ``streams`` results per transfer.

    A transfer on ``i`` carries one activation result per stream, each with its tag (bank memory
    and word, ``valid``: it is written, its select bit, the end of a block, the block's select
    index). What happens to a valid result depends on the phase's ``mode``:

    - plain phases: it is written as is;
    - depthwise phases of a MUX-skip block (a stream's results of a block are one channel, or,
      with ``gap_shared``, every stream's are the same channel): written as is, and summed over
      the block (the GAP numerator; with ``gap_shared`` over the streams too, in stream 0's sum);
      with the block's last result (``block_end``) the unit stores ``S[sel] = sum >
      gap_threshold`` (``2 * sum > (2^b - 1) * L`` in integers, the threshold ``> 0.5 * max`` of
      the GAP) in its select register (with ``gap_shared``: stream 0's bit only);
    - grouped phases: the depthwise value ``qa`` is read back from the output bank (``rd``, one
      cycle), and ``(qa + qg) >> 1`` is written where the result's select bit is 0; where it is 1
      nothing is written (``qa`` stays).

    Latency: results accepted on ``i`` in cycle ``t`` are written (``wr``) in cycle ``t + 1``
    (:attr:`latency`); ``busy`` is high while a write is pending. ``selects`` holds the select
    register (padded with zeros to ``n_select + parallel`` bits).

    Parameters
    ----------
    act_bits : int
        Width ``b`` of the activations.
    tag_shape : shape
        The results' tag (hw/serializer.py ``result_tag_layout``).
    streams : int
        Results per transfer.
    n_select : int
        Select bits to hold (the widest MUX-skip block's channels).
    parallel : int
        Lanes (pads the select register).
    gap_width : int
        Width of the GAP numerator and of ``gap_threshold``.
    shift : bool
        A shift-register select file (one stream, blocks of equal width: hw/engine_layout.py
        ``select_shift``): a depthwise block's bit enters at the top, ``consume`` bits leave at
        the bottom; tags carry no select index.
    shared : bool
        Adds the ``gap_shared`` input: in a depthwise phase whose streams all compute one channel
        (hw/schedule.py kind ``dwpos``) stream 0's GAP sum takes every stream's results and only
        stream 0 sets its select bit.

    All are keyword-only.

    Members
    -------
    i : ``In(stream.Signature(ArrayLayout(StructLayout({"q", "tag"}), streams), always_ready=True))``
        One result per stream per transfer.
    rd : ``Out(ArrayLayout(StructLayout({"mem", "word", "en"}), streams))``, rd_data : ``In``
        Read ports of the output bank (``qa``; data one cycle after the request).
    wr : ``Out(ArrayLayout(StructLayout({"mem", "word", "data", "en"}), streams))``
        Bank writes (the bank takes one per stream per cycle).
    tap : ``Out(ArrayLayout(StructLayout({"en", "laddr", "data"}), streams))``
        The same writes with their logical addresses (debug tap).
    mode : ``In(2)``, gap_threshold : ``In(gap_width)``
        The phase (hw/schedule.py ``MODE_*``) and its select threshold.
    gap_shared : ``In(1)``
        Only with ``shared``: the phase's streams are one channel.
    selects : ``Out(n_select + parallel)``
        The select register.
    consume : ``In(range(parallel + 1))``
        Shift mode: shift the register right by this many bits (a grouped block is done).
    busy : ``Out(1)``
        A write is pending.

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, *, act_bits, tag_shape, streams, n_select, parallel, gap_width, shift=False,
                        shared=False):
        for name, v in (("act_bits", act_bits), ("streams", streams), ("n_select", n_select),
                        ("parallel", parallel), ("gap_width", gap_width)):
            check_int("MuxSkip", name, v, minimum=1)
        check_bool("MuxSkip", "shared", shared)

    def __init__(self, *, act_bits, tag_shape, streams, n_select, parallel, gap_width, shift=False,
                 shared=False):
        self._shift = shift
        self._shared = shared
        self._b = act_bits
        self._r = streams
        self._n = n_select
        self._p = parallel
        self._gw = gap_width
        self._tag = tag_shape
        tag = data.StructLayout(tag_shape) if isinstance(tag_shape, dict) else tag_shape
        word = tag["word"].shape
        mem = tag["mem"].shape
        laddr = tag["laddr"].shape if "laddr" in tag.members else word
        self.in_layout = data.StructLayout({"q": unsigned(act_bits), "tag": tag})
        rd = data.StructLayout({"mem": mem, "word": word, "en": 1})
        wr = data.StructLayout({"mem": mem, "word": word, "data": unsigned(act_bits), "en": 1})
        tap = data.StructLayout({"en": 1, "laddr": laddr, "data": unsigned(act_bits)})
        members = {
            "i": In(stream.Signature(data.ArrayLayout(self.in_layout, streams), always_ready=True)),
            "rd": Out(data.ArrayLayout(rd, streams)),
            "rd_data": In(data.ArrayLayout(unsigned(act_bits), streams)),
            "wr": Out(data.ArrayLayout(wr, streams)),
            "tap": Out(data.ArrayLayout(tap, streams)),
            "mode": In(2),
            "gap_threshold": In(gap_width),
            "selects": Out(n_select + parallel),
            "consume": In(range(parallel + 1)),
            "busy": Out(1),
        }
        if shared:
            members["gap_shared"] = In(1)
        super().__init__(members)

    @property
    def latency(self):
        """Cycles from a result accepted on ``i`` to its write on ``wr``."""
        return 1

    def elaborate(self, platform):
        m = Module()
        R, n = self._r, self._n
        sel = Signal(n)
        m.d.comb += self.selects.eq(sel)
        s1 = Signal(data.ArrayLayout(self.in_layout, R))
        s1_valid = Signal()
        m.d.sync += [s1.eq(self.i.payload), s1_valid.eq(self.i.valid)]
        is_dw = self.mode == MODE_DW
        is_grp = self.mode == MODE_GRP
        set_bits = []
        valid_q = [Mux(self.i.payload[r].tag.valid, self.i.payload[r].q, 0) for r in range(R)]
        for r in range(R):
            res = self.i.payload[r]
            m.d.comb += [self.rd[r].mem.eq(res.tag.mem), self.rd[r].word.eq(res.tag.word),
                         self.rd[r].en.eq(self.i.valid & is_grp)]
            # the GAP numerator of this stream's channel (shared: stream 0's sums every stream's)
            gap = Signal(self._gw, name=f"gap{r}")
            total = Signal(self._gw, name=f"gap_total{r}")
            if self._shared and r == 0:
                m.d.comb += total.eq(gap + Mux(self.gap_shared, sum(valid_q), valid_q[0]))
            else:
                m.d.comb += total.eq(gap + valid_q[r])
            with m.If(self.i.valid & is_dw):
                m.d.sync += gap.eq(total)
                with m.If(res.tag.block_end):
                    m.d.sync += gap.eq(0)
            above = Signal(name=f"above{r}")
            m.d.comb += above.eq(total > self.gap_threshold)
            # (block_end may come with a result beyond the map: the bit is due all the same)
            we = self.i.valid & is_dw & res.tag.block_end
            if self._shared and r > 0:
                we = we & ~self.gap_shared
            set_bits.append((we, res.tag.sel if not self._shift else None, above))
            # stage 2: write the result (plain / depthwise), or the average where not selected
            o = s1[r]
            data_ = Signal(self._b, name=f"wdata{r}")
            en = Signal(name=f"wen{r}")
            with m.If(is_grp):
                keep = o.tag.selbit if "selbit" in o.tag.shape().members else 0
                m.d.comb += [data_.eq((self.rd_data[r] + o.q) >> 1), en.eq(s1_valid & o.tag.valid & ~keep)]
            with m.Else():
                m.d.comb += [data_.eq(o.q), en.eq(s1_valid & o.tag.valid)]
            m.d.comb += [self.wr[r].mem.eq(o.tag.mem), self.wr[r].word.eq(o.tag.word),
                         self.wr[r].data.eq(data_), self.wr[r].en.eq(en),
                         self.tap[r].en.eq(en), self.tap[r].data.eq(data_),
                         self.tap[r].laddr.eq(o.tag.laddr if "laddr" in o.tag.shape().members else o.tag.word)]
        if self._shift:
            # one stream: a depthwise block's bit goes in at the top, a grouped block's bits leave at
            # the bottom (``consume``), both in channel order (hw/engine_layout.py select_shift)
            (we, _, v), = set_bits
            with m.If(we):
                m.d.sync += sel.eq(Cat(sel[1:], v))
            with m.Elif(self.consume != 0):
                m.d.sync += sel.eq(sel >> self.consume)
        else:
            for c in range(n):
                for we, idx, v in set_bits:
                    with m.If(we & (idx == c)):
                        m.d.sync += sel[c].eq(v)
        m.d.comb += self.busy.eq(s1_valid)
        return m
