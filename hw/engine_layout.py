"""Widths and the phase descriptor of the conv engine's parts, derived from a compiled schedule.

The engine (hw/engine.py) and its parts (hw/sequencer.py, issue_stage.py, lanes.py,
serializer.py, write_back.py, mux_skip.py, feature_banks.py) size their registers from the same
:class:`Schedule`; these functions are that one definition.

The phase descriptor (:func:`descriptor_fields`) holds what the counters need per phase
(:class:`~ternecg.hw.schedule.Phase`, with the address steps pre-multiplied by the memory row
lengths). A field with the same value in every phase is a constant, not a ROM field: the phase
table (a LUT ROM, hw/phase_table.py) then holds only what changes from phase to phase, and a
single-stream engine has none of the per-stream fields. :class:`Descriptor` gives the parts one
view of both.
"""

from __future__ import annotations

from amaranth.hdl import Const, unsigned
from amaranth.lib import data

from .schedule import MODE_DW, MODE_FINAL, MODE_GRP, Schedule

__all__ = ["bits", "check_schedule", "Widths", "descriptor_fields", "descriptor_layout",
           "descriptor_rows", "Descriptor", "logit_width", "select", "select_shift"]


def select_shift(s: Schedule):
    """Whether the MUX-skip select bits are a shift register (hw/mux_skip.py) rather than indexed:
    with one stream, every depthwise phase writes its channels' bits in order and every grouped
    phase reads them in order, so when all MUX-skip blocks are equally wide no index is needed."""
    widths = {ph.cout for ph in s.phases if ph.mode in (MODE_DW, MODE_GRP)}
    return s.streams == 1 and len(widths) <= 1


def select(m, values, index, name=None):
    """``values[index]`` for a list of Values and a Value ``index`` (a Switch; the value itself
    when there is only one)."""
    from amaranth.hdl import Signal
    if len(values) == 1:
        return values[0]
    out = Signal(max(len(v) for v in values), name=name)
    with m.Switch(index):
        for i, v in enumerate(values):
            with m.Case(i):
                m.d.comb += out.eq(v)
    return out


def bits(n):
    """Bits of the unsigned integer ``n`` (at least 1)."""
    return max(1, int(n).bit_length())


def sbits(lo, hi):
    """Bits of a signed value in ``lo .. hi``."""
    return max(bits(max(0, hi)), bits(max(0, -lo - 1))) + 1


def check_schedule(owner, schedule):
    """TypeError / ValueError unless ``schedule`` is a compiled, non-empty Schedule."""
    if not isinstance(schedule, Schedule):
        raise TypeError(f"{owner} needs a compiled Schedule (hw.schedule.compile_schedule), "
                        f"not {type(schedule).__name__}")
    if not schedule.phases:
        raise ValueError(f"{owner} needs a non-empty Schedule (no phases)")


def logit_width(s: Schedule):
    """Width of the signed logits: the accumulator or the widest bias, plus one bit for the sum."""
    return max(s.acc_width, bits(max(abs(v) for v in s.bias or [0])) + 1) + 1


class Widths:
    """Register widths of one schedule (``Widths(s).word[bank]`` etc.)."""

    def __init__(self, s: Schedule):
        g = s.geometry
        self.R, self.L, self.M = g.streams, g.lanes, g.mems
        self.m = g.mem_bits
        # words per memory of each bank (bank 0: one beat; the loader's second half on top)
        self.word = [bits(max(1, w) - 1) for w in s.bank_words]
        self.laddr = bits(max(s.map_words) - 1)             # logical map address (debug tap)
        max_taps = max(max(ph.taps) for ph in s.phases)
        max_lin = max(ph.lin for ph in s.phases)
        hi = max((ph.n_tiles - 1) * ph.pos_tile_step + max(ph.stream_pos) + max_taps for ph in s.phases)
        lo = -max(max(ph.pads) for ph in s.phases)
        self.pos = sbits(lo, max(hi, max_lin))
        self.t = bits(max(ph.n_tiles * ph.t_tile_step + max(ph.stream_t) + g.lanes for ph in s.phases))
        self.row_in = bits(max(s.bank_words) + max(max(ph.stream_slot_in) for ph in s.phases) * max(ph.lq_in for ph in s.phases))
        self.row_out = bits(max(s.bank_words) + max(ph.out_block_step * ph.lq_out for ph in s.phases)
                            + max(ph.lq_out * max(ph.stream_slot_out) for ph in s.phases))
        self.w = bits(max(1, len(s.weights)))
        self.act = bits(max(1, s.act_channels + max(ph.act_block_step for ph in s.phases)))
        self.sel = bits(max(1, s.mux_channels) + g.parallel)
        self.taps = bits(max_taps)
        self.cin = bits(max(ph.cin_g for ph in s.phases))
        self.n_sel = max(1, s.mux_channels)
        self.layer = bits(max(ph.layer for ph in s.phases))
        self.out_count = max([ph.block_outputs(b) for ph in s.phases if ph.mode == MODE_FINAL
                              for b in range(ph.n_blocks)] or [1])


def _values(s: Schedule):
    """Per phase: {field: int or tuple} of everything the counters use."""
    g = s.geometry
    L, M = g.lanes, g.mems
    w = Widths(s)
    out = []
    for ph in s.phases:
        last = ph.valid_lanes[-1]
        # slot steps from a group's last block to the next group's first block
        gin = ph.in_group_step - (ph.n_blocks - 1) * ph.in_block_step
        gout = ph.out_group_step - (ph.n_blocks - 1) * ph.out_block_step
        d = {
            "mode": ph.mode, "in_bank": ph.in_bank, "out_bank": ph.out_bank, "layer": ph.layer,
            "lin": ph.lin, "lout": ph.lout, "multi_kernel": ph.multi_kernel,
            # loop bounds as last indices (compared without a subtraction)
            "cin_last": ph.cin_g - 1, "groups_last": ph.n_groups - 1, "blocks_last": ph.n_blocks - 1,
            # the last tile's first position t0 (the sequencer counts tiles in t0 itself)
            "t0_last": (ph.n_tiles - 1) * ph.t_tile_step, "taps_last": tuple(k - 1 for k in ph.taps),
            "pads": tuple(ph.pads),
            "rows": tuple(ph.cin_g * k for k in ph.taps),
            "lq_in": ph.lq_in,
            # input: row = slot * lq_in, smod = slot mod M; a block step, and the step from a
            # group's last block to the next group's first (two's complement in the register width)
            "in_block_row": ph.in_block_step * ph.lq_in, "in_block_mod": ph.in_block_step % M,
            "in_group_row": (gin * ph.lq_in) % (1 << w.row_in), "in_group_mod": gin % M,
            "pos_tile_step": ph.pos_tile_step, "t_tile_step": ph.t_tile_step,
            # output: row = slot * lq_out, smod = slot mod M, laddr = slot * lout
            "out_block_row": ph.out_block_step * ph.lq_out, "out_block_mod": ph.out_block_step % M,
            "out_block_laddr": ph.out_block_step * ph.lout,
            "out_group_row": (gout * ph.lq_out) % (1 << w.row_out), "out_group_mod": gout % M,
            "out_group_laddr": (gout * ph.lout) % (1 << (w.laddr + 1)),
            "lane_row": ph.lane_slot_step * ph.lq_out, "lane_mod": (ph.lane_slot_step + ph.lane_t_step) % M,
            "lane_laddr": ph.lane_slot_step * ph.lout + ph.lane_t_step, "lane_t": ph.lane_t_step,
            "act_block_step": ph.act_block_step if ph.mode != MODE_FINAL else 0,
            "lane_act": ph.lane_act_step,
            "sel_block_step": ph.sel_block_step,
            "sel_group_step": (ph.sel_group_step - (ph.n_blocks - 1) * ph.sel_block_step) % (1 << w.sel),
            # per stream
            "s_row_in": tuple(v * ph.lq_in for v in ph.stream_slot_in),
            "s_pos": tuple(ph.stream_pos),
            "s_mod_in": tuple(a % M for a in ph.stream_slot_in),      # the position is in `pos`
            "s_row_out": tuple(v * ph.lq_out for v in ph.stream_slot_out),
            "s_t": tuple(ph.stream_t),
            "s_mod_out": tuple((a + b) % M for a, b in zip(ph.stream_slot_out, ph.stream_t)),
            "s_laddr": tuple(a * ph.lout + b for a, b in zip(ph.stream_slot_out, ph.stream_t)),
            "s_sel": tuple(ph.stream_sel),
            "s_reads": tuple(int(v > 0) for v in ph.valid_lanes[0]),
            "last_valid": tuple(last),
            "last_reads": tuple(int(v > 0) for v in last),
            # outputs of a logits block (the serializer's count), first and last block
            "final_count": ph.block_outputs(0) if ph.mode == MODE_FINAL else L,
            "final_count_last": ph.block_outputs(ph.n_blocks - 1) if ph.mode == MODE_FINAL else L,
            # select bits of a grouped block (all valid ones set: skip the block)
            "skip_bits": _skip_bits(ph, g, 0), "skip_bits_last": _skip_bits(ph, g, ph.n_blocks - 1),
            # a depthwise channel selects its branch when its GAP numerator exceeds this
            "gap_threshold": (((1 << s.act_bits) - 1) * ph.length) >> 1,
            # a depthwise phase whose streams all compute one channel (kind dwpos): one GAP sum
            "gap_shared": ph.gap_shared,
        }
        out.append(d)
    # fields that only some modes read take, elsewhere, the value of the first phase that reads
    # them (so that a field read by one kind of phase only is a constant when those agree)
    for names, modes in ((("skip_bits", "skip_bits_last", "rows"), (MODE_GRP,)), (("gap_threshold", "gap_shared"), (MODE_DW,)),
                         (("final_count", "final_count_last"), (MODE_FINAL,)),
                         (("sel_block_step", "sel_group_step", "s_sel"), (MODE_DW, MODE_GRP))):
        users = [d for d, ph in zip(out, s.phases) if ph.mode in modes]
        for name in names:
            if users:
                for d, ph in zip(out, s.phases):
                    if ph.mode not in modes:
                        d[name] = users[0][name]
    return out


def _skip_bits(ph, g, b):
    """Select bits a grouped block reads: channels of its valid lanes (contiguous from ``sel``)."""
    return len({ph.stream_sel[r] + l for r in range(g.streams) for l in range(ph.valid_lanes[b][r])})


#: fields that are tuples of one value per kernel slot (indexed by ``kx``)
KERNEL_FIELDS = ("taps_last", "pads", "rows")
#: fields that are tuples of one value per stream
STREAM_FIELDS = ("s_row_in", "s_pos", "s_mod_in", "s_row_out", "s_t", "s_mod_out", "s_laddr",
                 "s_sel", "s_reads", "last_valid", "last_reads")
#: fields that are signed (the others are unsigned)
SIGNED_FIELDS = ()


def descriptor_fields(s: Schedule):
    """``(varying, constants)``: the fields that differ between phases (name -> width; per-kernel
    and per-stream fields as tuples of widths) and the others (name -> value)."""
    vals = _values(s)
    kslots = max(len(v["taps_last"]) for v in vals)
    for v in vals:
        for f in KERNEL_FIELDS:
            v[f] = tuple(v[f]) + (0,) * (kslots - len(v[f]))
    varying, constants = {}, {}
    for name in vals[0]:
        col = [v[name] for v in vals]
        if all(c == col[0] for c in col):
            constants[name] = col[0]
        elif isinstance(col[0], tuple):
            varying[name] = (len(col[0]), bits(max(max(c) for c in col)))
        else:
            varying[name] = bits(max(col))
    return varying, constants


def descriptor_layout(s: Schedule) -> data.StructLayout:
    """Layout of one phase-table row (only the varying fields; at least one bit)."""
    varying, _ = descriptor_fields(s)
    fields = {}
    for name, w in varying.items():
        fields[name] = data.ArrayLayout(unsigned(w[1]), w[0]) if isinstance(w, tuple) else unsigned(w)
    if not fields:
        fields["_none"] = unsigned(1)
    return data.StructLayout(fields)


def descriptor_rows(s: Schedule) -> list:
    """The phase table's contents: one dict of :func:`descriptor_layout` per phase."""
    varying, _ = descriptor_fields(s)
    vals = _values(s)
    kslots = max(len(v["taps_last"]) for v in vals)
    rows = []
    for v in vals:
        row = {}
        for name in varying:
            val = v[name]
            if name in KERNEL_FIELDS:
                val = list(val) + [0] * (kslots - len(val))
            row[name] = list(val) if isinstance(val, tuple) else val
        rows.append(row or {"_none": 0})
    return rows


class Descriptor:
    """The current phase as the parts see it: ``d.name`` is the phase-table field (a Value) or a
    constant (a ``Const``); per-kernel and per-stream fields are lists of Values. Build one from
    the phase table's data (``Descriptor(s, table.data)``) or for a part in isolation
    (``Descriptor(s, Signal(descriptor_layout(s)))``)."""

    def __init__(self, s: Schedule, view):
        self._view = view
        self._varying, self._const = descriptor_fields(s)

    @property
    def view(self):
        return self._view

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._varying:
            field = getattr(self._view, name)
            w = self._varying[name]
            return [field[i] for i in range(w[0])] if isinstance(w, tuple) else field
        if name in self._const:
            v = self._const[name]
            if isinstance(v, tuple):
                return [Const(x, bits(x)) for x in v]
            return Const(v, bits(v))
        raise AttributeError(f"no phase field {name!r}")

    def const(self, name):
        """The Python value of a constant field, or None if it varies between phases."""
        return self._const.get(name)
