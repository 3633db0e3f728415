"""The conv engine's sequencer: walks the schedule's phases pass by pass (hw/schedule.py)."""

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .checks import Checked
from .engine_layout import addr_width, check_schedule, phase_layout, rows_width
from .schedule import MODE_FINAL, MODE_GRP

__all__ = ["Sequencer"]


class Sequencer(Checked, wiring.Component):
    """Runs one beat's passes: the phase index, the per-pass counters and the pass state machine.

    The counters are those of :func:`ternecg.hw.schedule.iterate_passes` (in hardware): per phase,
    the group ``gi`` and pass ``pj``, and per pass the input base address, the output base
    address, the first weight row ``w_start``, the first select bit ``sel`` and the first
    activation channel ``act_base``. A beat runs when ``loaded`` and ``booted``: ``busy`` rises and
    every pass is ``FETCH`` (its kernel size, padding and weight rows from the descriptor), ``LOAD``
    (``start``: the issue stage takes the pass; or, for a grouped MUX-skip pass whose lanes all
    select the depthwise branch (``all_selected``), the pass is skipped), ``RUN`` until
    ``drained`` (then ``finish`` for one cycle). After the last pass ``done`` is high for one
    cycle and ``busy`` falls. Cycle counts: hw/schedule.py (``FETCH_LOAD``, ``SKIP_CYCLES``).

    Parameters
    ----------
    schedule : :class:`~ternecg.hw.schedule.Schedule`
        The compiled schedule (sizes the counters and the descriptor layout).

    Members
    -------
    phase_index : ``Out(range(phases + 1))``
        Address of the phase table; ``phase : In(phase_layout)`` is its descriptor (same cycle).
    loaded, booted : ``In(1)``
        A beat is in bank 0; the model id has been read (the engine starts only after both).
    all_selected : ``In(1)``
        Every lane of the current grouped pass selects the depthwise branch (skip it).
    drained : ``In(1)``
        Nothing of the current pass is in flight (issue, accumulate, serialiser, write-back).
    start, finish, done : ``Out(1)``
        One-cycle strobes: a pass starts (its values below are valid), a pass ends, the beat ends.
    busy : ``Out(1)``
        A beat is being computed (registered).
    in_base, out_base, w_start, sel, act_base, k, pad : ``Out``
        The current pass: input and output base addresses, first weight row, first select bit
        and activation channel, kernel size and padding (valid from ``start`` to ``finish``).

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
        widths = s.field_widths()
        aw = addr_width(s)
        self._rows_w = rows_width(s)
        super().__init__({
            "phase_index": Out(range(len(s.phases) + 1)),
            "phase": In(phase_layout(s)),
            "loaded": In(1),
            "booted": In(1),
            "all_selected": In(1),
            "drained": In(1),
            "start": Out(1),
            "finish": Out(1),
            "done": Out(1),
            "busy": Out(1),
            "in_base": Out(aw + 1),
            "out_base": Out(aw + 1),
            "w_start": Out(range(max(len(s.weights), 2))),
            "sel": Out(widths["sel_base"] + 1),
            "act_base": Out(range(len(s.thresholds) + s.parallel + 1)),
            "k": Out(widths["k"]),
            "pad": Out(widths["pad"]),
        })

    def elaborate(self, platform):
        m = Module()
        s = self._s
        cur = self.phase
        ph = self.phase_index
        gi = Signal(range(max(p.n_groups for p in s.phases) + 1))
        pj = Signal(range(max(p.passes_per_group for p in s.phases) + 1))
        in_base, out_base = self.in_base, self.out_base
        out_group_base = Signal.like(out_base)
        w_start, sel, act_ctr = self.w_start, self.sel, self.act_base
        cur_rows = Signal(self._rows_w)

        last_in_group = pj == cur.passes_per_group - 1
        last_in_phase = last_in_group & (gi == cur.n_groups - 1)
        last_phase = ph == len(s.phases) - 1
        next_pass = Signal()       # advance the counters to the next pass (executed or skipped)
        channels = Mux(cur.poly, 1, cur.lanes)      # output channels of the pass
        with m.If(next_pass):
            m.d.sync += [w_start.eq(w_start + cur_rows), sel.eq(sel + channels)]
            with m.If(cur.mode != MODE_FINAL):
                m.d.sync += act_ctr.eq(act_ctr + channels)
            with m.If(last_in_phase):
                m.d.sync += [ph.eq(ph + 1), gi.eq(0), pj.eq(0), in_base.eq(0), out_base.eq(0),
                             out_group_base.eq(0), sel.eq(0)]
            with m.Elif(last_in_group):
                m.d.sync += [pj.eq(0), gi.eq(gi + 1),
                             in_base.eq(in_base + cur.in_pass_step + cur.in_group_step),
                             out_group_base.eq(out_group_base + cur.out_group_step),
                             out_base.eq(out_group_base + cur.out_group_step)]
            with m.Else():
                m.d.sync += [pj.eq(pj + 1), in_base.eq(in_base + cur.in_pass_step),
                             out_base.eq(out_base + cur.out_pass_step)]

        kx = Mux(cur.multi_kernel, gi, 0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.loaded & self.booted):
                    m.d.sync += [ph.eq(0), gi.eq(0), pj.eq(0), in_base.eq(0), out_base.eq(0),
                                 out_group_base.eq(0), w_start.eq(0), sel.eq(0), act_ctr.eq(0),
                                 self.busy.eq(1)]
                    m.next = "FETCH"
            with m.State("FETCH"):
                m.d.sync += [self.k.eq(cur.kernels[kx]), self.pad.eq(cur.pads[kx]),
                             cur_rows.eq(cur.rows[kx])]
                m.next = "LOAD"
            with m.State("LOAD"):
                with m.If((cur.mode == MODE_GRP) & self.all_selected):
                    m.d.comb += next_pass.eq(1)
                    with m.If(last_in_phase & last_phase):
                        m.next = "DONE"
                    with m.Else():
                        m.next = "FETCH"
                with m.Else():
                    m.d.comb += self.start.eq(1)
                    m.next = "RUN"
            with m.State("RUN"):
                with m.If(self.drained):
                    m.d.comb += [self.finish.eq(1), next_pass.eq(1)]
                    with m.If(last_in_phase & last_phase):
                        m.next = "DONE"
                    with m.Else():
                        m.next = "FETCH"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                m.d.sync += self.busy.eq(0)
                m.next = "IDLE"
        return m
