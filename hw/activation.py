"""Threshold activation: a pipelined binary search over per-channel threshold ROMs.

The golden reference (:func:`ternecg.golden.integer_ref.activate`) defines the b-bit activation of
an accumulator as the number of the channel's ``Q = 2^b - 1`` ascending thresholds ``T_1..T_Q``
that it reaches (``acc >= T_j``). Because the thresholds are ascending, that count is the largest
``q`` with ``T_q <= acc`` (``T_0 = -inf``), which a b-step binary search finds one bit at a time.
"""

from __future__ import annotations

import operator

from amaranth.hdl import MemoryData, Module, Signal, Cat, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .checks import Checked, check_int
from .params import ROM_ATTRS

__all__ = ["ActivationUnit", "activation_channels", "activation_thresholds"]


def activation_channels(model):
    """The global activation channel numbering of a model.

    Returns a list whose entry ``n`` is ``(layer_index, branch, channel)`` for global activation
    channel ``n``. Layers are taken in order and the final (logits) layer is skipped, because it
    has no activation. A plain conv/dense layer contributes its output channels with
    ``branch = None``; a MUX-skip block contributes its depthwise branch's channels
    (``branch = "dw"``) and then its grouped branch's channels (``branch = "grp"``). ``channel``
    is the output channel of that conv *before* any channel shuffle, i.e. the row of its
    ``thresholds`` tensor and the channel axis of ``integer_ref.forward(...).accs[layer_index]``
    (or of the MUX branch accumulators).
    """
    from ternecg.golden.spec.modelfile import IntMux

    out = []
    for li, layer in enumerate(model.layers):
        if isinstance(layer, IntMux):
            for branch in ("dw", "grp"):
                conv = getattr(layer, branch)
                out.extend((li, branch, c) for c in range(conv.thresholds.shape[0]))
        elif not layer.spec.final:
            out.extend((li, None, c) for c in range(layer.thresholds.shape[0]))
    return out


def activation_thresholds(model):
    """Threshold lists of every activation channel, in :func:`activation_channels` order.

    Returns ``(thresholds, acc_width)``: the list of per-channel threshold lists to pass to
    :class:`ActivationUnit`, and the widest accumulator width (``acc_bits``) among those layers.
    """
    from ternecg.golden.spec.modelfile import IntMux

    rows, width = [], 1
    for li, branch, c in activation_channels(model):
        layer = model.layers[li]
        conv = getattr(layer, branch) if isinstance(layer, IntMux) else layer
        rows.append([int(v) for v in conv.thresholds[c].tolist()])
        width = max(width, conv.acc_bits)
    return rows, width


class ActivationUnit(Checked, wiring.Component):
    """Pipelined threshold activation for many channels, one result per cycle.

    For an input ``(channel, acc, tag)`` the unit outputs ``(q, tag)`` where ``q`` is the number
    of thresholds ``T[channel][j]`` with ``acc >= T[channel][j]``, bit-exact to
    :func:`ternecg.golden.integer_ref.activate`. The tag is carried through unchanged.

    Stage ``s`` (``s = 0 .. act_bits - 1``) decides bit ``act_bits - 1 - s`` of ``q``. With
    ``p`` the ``s`` bits already decided, it tests the candidate ``c = (p << (b - s)) | 1 << (b - 1 - s)``
    (a 1-based threshold index) and sets the bit when ``acc >= T_c``. Stage ``s`` reads ``T_c``
    from its own ROM of ``n_channels * 2^s`` entries, addressed by ``{channel, p}`` through a
    synchronous read port (so iCE40 maps the larger ones to block RAM). Every pipeline register
    and read port advances together: the whole pipeline stalls while ``o`` holds a result that is
    not taken, so the output payload stays stable while ``o.valid`` and not ``o.ready``. ``i.ready``
    depends combinationally on ``o.ready``.

    Thresholds may lie anywhere in ``[-2^(acc_width-1), 2^(acc_width-1)]`` (the range the model
    file allows). A threshold of ``+2^(acc_width-1)`` is never reached by a ``signed(acc_width)``
    accumulator; if any channel uses it, the ROMs are one bit wider so that stays exact.

    Parameters
    ----------
    thresholds : list of list of int
        One list per activation channel (see :func:`activation_channels`), each holding
        ``2^act_bits - 1`` ascending integers.
    acc_width : int
        Width of the signed accumulator input.
    act_bits : int
        Width ``b`` of the unsigned activation output.
    tag_width : int
        Width of the opaque tag carried from input to output (may be 0).

    Members
    -------
    i : ``In(stream.Signature(StructLayout({"channel", "acc", "tag"})))``
        Accumulators to activate, one per transfer: ``channel`` is
        ``unsigned(ceil_log2(n_channels))``, ``acc`` is ``signed(acc_width)``, ``tag`` is
        ``unsigned(tag_width)``.
    o : ``Out(stream.Signature(StructLayout({"q", "tag"})))``
        One activation per accepted input, in input order: ``q`` is ``unsigned(act_bits)``,
        ``tag`` the input's tag.

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @staticmethod
    def _rows(thresholds, acc_width, act_bits):
        """The thresholds as lists of ints; TypeError / ValueError for a bad table."""
        name = "ActivationUnit"
        try:
            rows = [list(row) for row in thresholds]
        except TypeError:
            raise TypeError(f"{name} thresholds must be a list of per-channel lists, "
                            f"not {type(thresholds).__name__}") from None
        if not rows:
            raise ValueError(f"{name} thresholds is empty; need at least one channel")
        n = (1 << act_bits) - 1
        lo, hi = -(1 << (acc_width - 1)), 1 << (acc_width - 1)
        for ch, row in enumerate(rows):
            if len(row) != n:
                raise ValueError(f"{name}: channel {ch} has {len(row)} thresholds, "
                                 f"act_bits = {act_bits} needs {n}")
            for j, v in enumerate(row):
                try:
                    if isinstance(v, bool):
                        raise TypeError
                    row[j] = v = operator.index(v)      # also numpy / torch integer scalars
                except TypeError:
                    raise TypeError(f"{name}: threshold [{ch}][{j}] = {v!r} is not an integer") from None
                if not lo <= v <= hi:
                    raise ValueError(f"{name}: threshold [{ch}][{j}] = {v} is outside the "
                                     f"{acc_width}-bit accumulator range [{lo}, {hi}]; "
                                     f"use a wider acc_width")
                if j and v < row[j - 1]:
                    raise ValueError(f"{name}: thresholds of channel {ch} are not "
                                     f"ascending: [{j - 1}] = {row[j - 1]} > [{j}] = {v}")
        return rows

    @classmethod
    def check_arguments(cls, thresholds, *, acc_width, act_bits, tag_width):
        check_int(cls.__name__, "acc_width", acc_width, minimum=1)
        check_int(cls.__name__, "act_bits", act_bits, minimum=1, maximum=16)
        check_int(cls.__name__, "tag_width", tag_width, minimum=0)
        cls._rows(thresholds, acc_width, act_bits)

    def __init__(self, thresholds, *, acc_width, act_bits, tag_width):
        thresholds = self._rows(thresholds, acc_width, act_bits)
        hi = 1 << (acc_width - 1)

        self._thresholds = thresholds
        self._acc_width = acc_width
        self._act_bits = act_bits
        self._tag_width = tag_width
        # One extra ROM bit only when some threshold is the unreachable +2^(acc_width-1).
        self._t_width = acc_width + 1 if any(v == hi for row in thresholds for v in row) else acc_width

        self._chan_width = ceil_log2(len(thresholds))
        i_layout = data.StructLayout({
            "channel": unsigned(self._chan_width),
            "acc": signed(acc_width),
            "tag": unsigned(tag_width),
        })
        o_layout = data.StructLayout({
            "q": unsigned(act_bits),
            "tag": unsigned(tag_width),
        })
        super().__init__({
            "i": In(stream.Signature(i_layout)),
            "o": Out(stream.Signature(o_layout)),
        })
        #: the threshold ROMs' contents (parameter ROMs, hw/params.py), one per ``rom_images`` entry
        self.rom_data = [MemoryData(shape=signed(self._t_width), depth=len(init), init=init)
                         for init in self.rom_images()]

    def rom_images(self):
        """The initial contents of every threshold ROM, in ROM order (one per search stage)."""
        return [self.rom_init(s) for s in range(self._act_bits)]

    @property
    def n_channels(self):
        return len(self._thresholds)

    @property
    def acc_width(self):
        return self._acc_width

    @property
    def act_bits(self):
        return self._act_bits

    @property
    def tag_width(self):
        return self._tag_width

    @property
    def threshold_width(self):
        """Width of the signed threshold ROM words: ``acc_width``, or one more when some
        threshold is the unreachable ``+2^(acc_width-1)`` (a patched model must fit it)."""
        return self._t_width

    @property
    def latency(self):
        """Cycles from ``i`` accepted to ``o.valid`` when nothing stalls: one per search stage
        (ROM read, compare) plus the output register."""
        return self._act_bits + 1

    def rom_init(self, stage):
        """Contents of stage ``stage``'s ROM: entry ``channel * 2^stage + p`` is ``T_c`` with
        ``c = (p << (b - stage)) | 1 << (b - 1 - stage)`` (1-based)."""
        b = self._act_bits
        init = []
        for row in self._thresholds:
            for p in range(1 << stage):
                cand = (p << (b - stage)) | (1 << (b - 1 - stage))
                init.append(row[cand - 1])
        return init

    def elaborate(self, platform):
        m = Module()
        b = self._act_bits

        # `advance` moves every stage at once; a result in the output register blocks it until taken.
        o_valid = Signal()
        advance = Signal()
        m.d.comb += [
            advance.eq(~o_valid | self.o.ready),
            self.i.ready.eq(advance),
            self.o.valid.eq(o_valid),
        ]

        # Signals entering stage 0 (stage s's inputs are registered alongside its ROM read).
        valid_in = self.i.valid
        chan_in = self.i.payload.channel
        acc_in = self.i.payload.acc
        tag_in = self.i.payload.tag
        prefix_in = None                          # the s already-decided bits of q (none for s=0)

        for s in range(b):
            rom = Memory(data=self.rom_data[s], attrs=ROM_ATTRS)
            m.submodules[f"rom{s}"] = rom
            rd = rom.read_port(domain="sync")
            addr = chan_in if s == 0 else Cat(prefix_in, chan_in)
            m.d.comb += [rd.addr.eq(addr), rd.en.eq(advance)]

            valid = Signal(name=f"s{s}_valid")
            # Data registers need no reset: they are only looked at while `valid` is set.
            chan = Signal(self._chan_width, name=f"s{s}_channel", reset_less=True)
            acc = Signal(signed(self._acc_width), name=f"s{s}_acc", reset_less=True)
            tag = Signal(self._tag_width, name=f"s{s}_tag", reset_less=True)
            prefix = Signal(s, name=f"s{s}_prefix", reset_less=True)
            with m.If(advance):
                m.d.sync += [valid.eq(valid_in), chan.eq(chan_in), acc.eq(acc_in), tag.eq(tag_in)]
                if s:
                    m.d.sync += prefix.eq(prefix_in)

            bit = Signal(name=f"s{s}_bit")
            m.d.comb += bit.eq(acc >= rd.data)
            valid_in, chan_in, acc_in, tag_in = valid, chan, acc, tag
            prefix_in = Cat(bit, prefix) if s else bit        # new bit is the LSB of the prefix

        # Output register.
        with m.If(advance):
            m.d.sync += [
                o_valid.eq(valid_in),
                self.o.payload.q.eq(prefix_in),
                self.o.payload.tag.eq(tag_in),
            ]
        return m
