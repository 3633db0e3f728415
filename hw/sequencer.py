"""The conv engine's sequencer: walks the schedule's phases, tiles and taps (hw/schedule.py)."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .checks import Checked
from .engine_layout import (Descriptor, Widths, bits, check_schedule, descriptor_layout, select,
                            select_shift)
from .schedule import MODE_FINAL, MODE_GRP

__all__ = ["Sequencer", "tap_layout", "tile_layout"]


def tile_layout(s):
    """The current tile's bases (:class:`~ternecg.hw.schedule_run.Tile` as the counters hold
    them, stream 0, lane 0): output row ``out_slot * lq_out``, ``(out_slot + t0) mod M``, first
    position ``t0``, logical address ``out_slot * lout + t0`` (debug tap; with one memory per
    bank it is ``out_row + t0``, not a register), activation index, select index; flags: last tile
    of its block, last block of its group, first tile of its block."""
    w = Widths(s)
    fields = {"out_row": unsigned(w.row_out), "out_mod": unsigned(max(1, w.m)), "t0": unsigned(w.t),
              "laddr": unsigned(w.laddr + 1), "act": unsigned(w.act), "sel": unsigned(w.sel),
              "last": 1, "last_block": 1, "first": 1}
    if select_shift(s):
        del fields["sel"]
    return data.StructLayout(fields)


def tap_layout(s):
    """The current tap: input row ``(in_slot + c) * lq_in`` and ``(in_slot + c) mod M``, position
    ``pos0 + j``, weight row, kernel slot, first / last tap of its tile."""
    w = Widths(s)
    kslots = max(len(ph.taps) for ph in s.phases)
    return data.StructLayout({
        "row": unsigned(w.row_in), "mod": unsigned(max(1, w.m)), "pos": signed(w.pos),
        "w": unsigned(w.w), "kx": unsigned(bits(kslots - 1)), "first": 1, "last": 1,
    })


class Sequencer(Checked, wiring.Component):
    """Runs one beat: the phase index, the loop counters, the current tile's bases and tap.

    The counters are those of :func:`ternecg.hw.schedule_run.tiles`: per phase the group ``gi``,
    block ``b`` and tile ``tau`` (held as the tile's first position ``t0 = tau * t_tile_step``), per
    tile the input channel ``c`` and tap ``j``. A beat runs when
    ``loaded`` and ``booted``: ``busy`` rises; each phase is one ``START`` cycle, then its taps,
    one per cycle in which ``advance`` is high (the issue stage takes ``tap`` when ``issuing``);
    with a tile's last tap the next tile's bases are loaded (block and group steps are deltas
    from the phase descriptor). A grouped MUX-skip block whose select bits (``selects``) are all
    set is skipped at its first tap: ``issuing`` is low for that one cycle and the counters move
    to the next block. After the last tap of the phase the sequencer waits for ``drained``
    (nothing of the phase in flight) before the next phase; after the last, ``done`` is high for
    one cycle and ``busy`` falls. Cycle counts: hw/schedule.py.

    Parameters
    ----------
    schedule : :class:`~ternecg.hw.schedule.Schedule`
        The compiled schedule (sizes the counters and the descriptor layout).

    Members
    -------
    phase_index : ``Out(range(phases + 1))``
        Address of the phase table; ``phase : In(descriptor_layout)`` is its row (same cycle).
    loaded, booted : ``In(1)``
        A beat is in bank 0; the model id has been read (the engine starts only after both).
    drained : ``In(1)``
        Nothing of the current phase is in flight (issue, lanes, serializer, write-back).
    advance : ``In(1)``
        The issue stage moves on in this cycle (it takes ``tap`` if ``issuing``).
    selects : ``In(n_select + parallel)``
        The MUX-skip select bits (hw/mux_skip.py).
    consume : ``Out(range(parallel + 1))``
        With a shift-register select file: the select bits a finished grouped block used.
    issuing : ``Out(1)``
        ``tap`` is a tap to issue.
    tap : ``Out(tap_layout)``, tile : ``Out(tile_layout)``
        The current tap and the bases of its tile.
    done : ``Out(1)``
        One-cycle strobe: the beat ends.
    busy : ``Out(1)``
        A beat is being computed (registered).

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, schedule):
        check_schedule("Sequencer", schedule)

    def __init__(self, schedule):
        s = self._s = schedule
        assert all(ph.t_tile_step >= 1 or ph.n_tiles == 1 for ph in s.phases), "t0 counts the tiles"
        self._w = w = Widths(s)
        super().__init__({
            "phase_index": Out(range(len(s.phases) + 1)),
            "phase": In(descriptor_layout(s)),
            "loaded": In(1),
            "booted": In(1),
            "drained": In(1),
            "advance": In(1),
            "selects": In(w.n_sel + s.parallel),
            "issuing": Out(1),
            "consume": Out(range(s.parallel + 1)),
            "tap": Out(tap_layout(s)),
            "tile": Out(tile_layout(s)),
            "done": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        s, w = self._s, self._w
        M = w.M
        cur = Descriptor(s, self.phase)
        ph = self.phase_index
        tap, tile = self.tap, self.tile
        shift = select_shift(s)
        gi = Signal(range(max(p.n_groups for p in s.phases) + 1))
        b = Signal(range(max(p.n_blocks for p in s.phases) + 1))
        # the tile index is not a counter of its own: t0 = tau * t_tile_step (t_tile_step >= 1), so
        # the first tile is t0 = 0 and the last t0 = t0_last (a descriptor field)
        c = Signal(w.cin)
        j = Signal(w.taps)
        row0 = Signal.like(tap.row)          # the tile's channel-0 row (constant in a block for POS)
        mod0 = Signal.like(tap.mod)
        pos0 = Signal.like(tap.pos)          # the tile's first position; tap.pos = pos0 + j
        # With one lane the position has its own register, counted with j, so that no adder sits
        # before the feature-bank read address (hw-report's critical path at P = 1, into the SPRAM:
        # nextpnr seeds 1-4 35.66-36.73 -> 36.15-37.42 MHz for 14 LC); wider settings' paths are
        # elsewhere (the lanes), so they keep the adder (the register cost 21-29 LC at P = 2, 3, 6)
        pos_reg = s.parallel == 1

        def set_pos(value):
            return [tap.pos.eq(value)] if pos_reg else []
        w0 = Signal.like(tap.w)              # the block's first weight row
        # With one lane the weight row is the block's first row plus the tap's offset in the tile,
        # ``tap.w = w0 + wo`` (an adder before the weight ROM's address), instead of a register of
        # its own that a tile's end reloads from ``w0``; a skipped block needs no adder of its own.
        # ``make hw-report`` P = 1: sequencer 413 -> 388 LUT4, accelerator 1,266 -> 1,243 LC. The
        # other settings keep the register: at P = 2, 3, 6 the split took 27, 43, 17 LC off but
        # nextpnr seed 1's Fmax down by 2.6, 0.8, 0.6 MHz (one seed, on 0d9a36f), and adopting it
        # there needs the seeds and those settings' whole re-verification.
        w_split = s.parallel == 1
        if w_split:
            wo = Signal(range(max(max(p.cin_g * k for k in p.taps) for p in s.phases) + 1))
            m.d.comb += tap.w.eq(w0 + wo)

        def set_w(value):                    # the weight row of a tile's first tap
            return [wo.eq(0)] if w_split else [tap.w.eq(value)]
        kx = tap.kx
        multi = len(cur.taps_last) > 1
        # The fields that decide the step's kind (the loop ends, the MUX-skip test), from flip-flops:
        # a copy of the descriptor one cycle late, which is the current phase's in every RUN
        # cycle (the phase index changes into START, which uses none of them). So the enables of
        # the counters do not wait for the phase index through the table's LUTs (hw-report's
        # critical path at P = 1); Yosys keeps only the fields used here.
        phase_q = Signal.like(self.phase, name="phase_q")
        m.d.sync += phase_q.eq(self.phase)
        lag = Descriptor(s, phase_q)

        def mod(v):
            return v[:w.m] if M > 1 else 0

        last_j = j == select(m, lag.taps_last, kx, "taps_last_k")
        last_c = c == lag.cin_last
        last_tau = tile.t0 == lag.t0_last
        last_b = b == lag.blocks_last
        last_g = gi == lag.groups_last
        m.d.comb += [*([] if pos_reg else [tap.pos.eq(pos0 + j)]),
                     tap.first.eq((c == 0) & (j == 0)), tap.last.eq(last_j & last_c),
                     tile.last.eq(last_tau), tile.last_block.eq(last_b), tile.first.eq(tile.t0 == 0)]

        # ---- skipping a grouped block whose lanes all select the depthwise branch ---------------
        skip = Signal()
        n_bits = Signal(range(s.parallel + 1))
        if any(p.mode == MODE_GRP for p in s.phases):
            from .engine_layout import _skip_bits
            width = max(_skip_bits(p, s.geometry, bb) for p in s.phases if p.mode == MODE_GRP
                        for bb in range(p.n_blocks))
            m.d.comb += n_bits.eq(Mux(last_b, lag.skip_bits_last, lag.skip_bits) if width > 1 else 1)
            window = self.selects[:width] if shift else self.selects.bit_select(tile.sel, width)
            if width == 1:
                all_set = window[0]
            else:
                mask = Signal(width)
                for i in range(width):
                    m.d.comb += mask[i].eq(i < n_bits)
                all_set = (window & mask) == mask
            m.d.comb += skip.eq((lag.mode == MODE_GRP) & tile.first & tap.first & all_set)

        # ---- stepping ---------------------------------------------------------------------------
        running = Signal()                   # in a phase's taps (RUN)
        m.d.comb += self.issuing.eq(running & ~skip)
        step = running & self.advance
        tile_end = step & (tap.last | skip)
        block_end = tile_end & (last_tau | skip)
        phase_end = block_end & last_b & last_g
        if shift and any(p.mode == MODE_GRP for p in s.phases):
            m.d.comb += self.consume.eq(Mux(block_end & (lag.mode == MODE_GRP), n_bits, 0))
        next_row = tap.row + cur.lq_in
        # The step's kind (next tap, next tile, next block) depends only on registered state, and
        # ``advance`` (the end of the ready chain from the lanes) only enables the registers: the
        # next values never wait for it (hw-report's critical path at P = 1 ran through it).
        tap_end = tap.last | skip
        tile_last = last_tau | skip

        rows = select(m, cur.rows, kx, "rows_k")
        nkx = Signal.like(kx)
        m.d.comb += nkx.eq(Mux(last_b, Mux(cur.multi_kernel, gi + 1, 0), kx) if multi else 0)
        pad = select(m, cur.pads, nkx, "pad_next")
        with m.If(step):
            with m.If(~tap_end):                            # next tap of the tile
                m.d.sync += [j.eq(j + 1), (wo.eq(wo + 1) if w_split else tap.w.eq(tap.w + 1)), *set_pos(tap.pos + 1)]
                with m.If(last_j):
                    m.d.sync += [j.eq(0), c.eq(c + 1), tap.row.eq(next_row), *set_pos(pos0)]
                    if M > 1:
                        m.d.sync += tap.mod.eq(mod(tap.mod + 1))
            with m.Elif(~tile_last):                        # next tile of the block
                next_pos0 = pos0 + cur.pos_tile_step
                m.d.sync += [j.eq(0), c.eq(0), pos0.eq(next_pos0), *set_pos(next_pos0),
                             tap.row.eq(row0), *set_w(w0), tile.t0.eq(tile.t0 + cur.t_tile_step)]
                if M > 1:
                    m.d.sync += [tap.mod.eq(mod0), tile.out_mod.eq(mod(tile.out_mod + cur.t_tile_step)),
                                 tile.laddr.eq(tile.laddr + cur.t_tile_step)]
            with m.Else():                                  # next block (or group)
                # the next block's rows follow this one's (a skipped block ends at its first tap,
                # where tap.w = w0; ``rows`` is valid in the grouped phases, the only ones that skip)
                if w_split:
                    next_w = tap.w + Mux(skip, rows, 1)
                else:
                    next_w = Mux(skip, w0 + rows, tap.w + 1)
                m.d.sync += [j.eq(0), c.eq(0), tile.t0.eq(0), *set_w(next_w), w0.eq(next_w)]
                with m.If(cur.mode != MODE_FINAL):
                    m.d.sync += tile.act.eq(tile.act + cur.act_block_step)
                # the next block's or group's bases: deltas from this block's (hw/engine_layout.py)
                m.d.sync += [b.eq(Mux(last_b, 0, b + 1)), gi.eq(Mux(last_b, gi + 1, gi)), kx.eq(nkx),
                             pos0.eq(-pad), *set_pos(-pad),
                             tile.out_row.eq(tile.out_row + Mux(last_b, cur.out_group_row, cur.out_block_row))]
                # the next block's first row: the same channels again (in_block_row = 0: every block
                # of a group reads the group's channels), the next ones, or the next group's; stepped
                # from the block's first row, not from the tap's (a skipped MUX-skip block ends at its
                # first tap)
                in_d = Mux(last_b, cur.in_group_row, cur.in_block_row)
                m.d.sync += [row0.eq(row0 + in_d), tap.row.eq(row0 + in_d)]
                if not shift:
                    m.d.sync += tile.sel.eq(tile.sel + Mux(last_b, cur.sel_group_step, cur.sel_block_step))
                if M > 1:
                    mod_d = Mux(last_b, cur.in_group_mod, cur.in_block_mod)
                    omod_d = Mux(last_b, cur.out_group_mod, cur.out_block_mod)
                    lad_d = Mux(last_b, cur.out_group_laddr, cur.out_block_laddr)
                    m.d.sync += [mod0.eq(mod(mod0 + mod_d)), tap.mod.eq(mod(mod0 + mod_d)),
                                 tile.out_mod.eq(mod(tile.out_mod - tile.t0 + omod_d)),
                                 tile.laddr.eq(tile.laddr - tile.t0 + lad_d)]

        def start_phase():
            m.d.sync += [gi.eq(0), b.eq(0), c.eq(0), j.eq(0), kx.eq(0),
                         pos0.eq(-cur.pads[0]), *set_pos(-cur.pads[0]), row0.eq(0), tap.row.eq(0),
                         tile.out_row.eq(0), tile.t0.eq(0)]
            if not shift:
                m.d.sync += tile.sel.eq(0)
            if M > 1:
                m.d.sync += [mod0.eq(0), tap.mod.eq(0), tile.out_mod.eq(0), tile.laddr.eq(0)]

        last_phase = ph == len(s.phases) - 1
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.loaded & self.booted):
                    m.d.sync += [ph.eq(0), self.busy.eq(1), *set_w(0), w0.eq(0), tile.act.eq(0)]
                    m.next = "START"
            with m.State("START"):
                start_phase()
                m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += running.eq(1)
                with m.If(phase_end):
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                with m.If(self.drained):
                    with m.If(last_phase):
                        m.next = "DONE"
                    with m.Else():
                        m.d.sync += ph.eq(ph + 1)
                        m.next = "START"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                m.d.sync += self.busy.eq(0)
                m.next = "IDLE"
        return m
