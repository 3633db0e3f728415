"""The conv engine's write-back: activation unit -> MUX-skip unit -> feature-bank writes."""

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, connect

from .activation import ActivationUnit
from .checks import Checked
from .engine_layout import addr_width, check_schedule, lane_width, phase_layout
from .mux_skip import MuxSkip
from .schedule import MODE_DW

__all__ = ["WriteBack"]


class WriteBack(Checked, wiring.Component):
    """Activates the serializer's sums and writes them, through the MUX-skip unit, to a bank.

    A transfer on ``i`` is one sum with its activation channel and tag (lane, bank address). The
    activation unit (``act_unit``, :attr:`ActivationUnit.latency` cycles) turns it into a b-bit
    value, which the MUX-skip unit (hw/mux_skip.py, 1 cycle) passes on, averages with the
    depthwise value or drops, as the pass's ``mode`` says; the result leaves on ``wr`` for the
    output bank (:attr:`latency` cycles after ``i``, without stalls: ``wr`` is never
    back-pressured). ``busy`` is high while a sum is inside.

    Parameters
    ----------
    schedule : :class:`~ternecg.hw.schedule.Schedule`
        The compiled schedule (widths, select bits).
    act_unit : :class:`~ternecg.hw.activation.ActivationUnit`
        The activation unit (keyword-only; its ROMs are parameter ROMs of the engine).

    Members
    -------
    i : ``In(stream.Signature(act_unit.i layout))``
        Sums to activate (``Serializer.act``).
    phase : ``In(phase_layout)``
        The current phase (``mode``, ``length``).
    sel : ``In``
        The pass's first select bit.
    finish : ``In(1)``
        End of the pass (the MUX-skip unit latches a depthwise channel's select bit).
    all_selected : ``Out(1)``
        Every lane of the pass selects the depthwise branch (the sequencer skips it).
    rd_addr : ``Out(addr_width)``, rd_data : ``In(act_bits)``
        Read port of the output bank (the depthwise value of grouped passes).
    wr : ``Out(stream.Signature(StructLayout({"addr", "data"}), always_ready=True))``
        Bank writes.
    busy : ``Out(1)``
        A sum is in the activation unit or the MUX-skip unit.

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, schedule, *, act_unit):
        check_schedule("WriteBack", schedule)
        if not isinstance(act_unit, ActivationUnit):
            raise TypeError(f"WriteBack act_unit must be an ActivationUnit, not {act_unit!r}")

    def __init__(self, schedule, *, act_unit):
        s = self._s = schedule
        widths = s.field_widths()
        self._act = act_unit
        self.mux = MuxSkip(
            act_bits=s.act_bits, addr_width=addr_width(s), lane_width=lane_width(s),
            n_select=max(1, s.mux_channels), sel_width=widths["sel_base"],
            length_width=widths["length"], parallel=s.parallel,
            max_length=max([p.length for p in s.passes if p.mode == MODE_DW] or [1]))
        super().__init__({
            "i": In(act_unit.i.signature.flip()),
            "phase": In(phase_layout(s)),
            "sel": In(widths["sel_base"] + 1),
            "finish": In(1),
            "all_selected": Out(1),
            "rd_addr": Out(addr_width(s)),
            "rd_data": In(s.act_bits),
            "wr": Out(self.mux.wr.signature),
            "busy": Out(1),
        })

    @property
    def latency(self):
        """Cycles from a sum accepted on ``i`` to its write on ``wr`` (no stalls)."""
        return self._act.latency + self.mux.latency

    def elaborate(self, platform):
        m = Module()
        m.submodules.act = act = self._act
        m.submodules.mux = mux = self.mux
        lane_w = lane_width(self._s)
        connect(m, wiring.flipped(self.i), act.i)

        # results inside the activation unit
        inflight = Signal(range(64))
        m.d.sync += inflight.eq(inflight + (act.i.valid & act.i.ready) - (act.o.valid & act.o.ready))

        cur = self.phase
        m.d.comb += [
            mux.i.valid.eq(act.o.valid), act.o.ready.eq(1),
            mux.i.payload.q.eq(act.o.payload.q),
            mux.i.payload.lane.eq(act.o.payload.tag[:lane_w]),
            mux.i.payload.addr.eq(act.o.payload.tag[lane_w:]),
            self.rd_addr.eq(mux.rd_addr), mux.rd_data.eq(self.rd_data),
            mux.mode.eq(cur.mode), mux.sel_base.eq(self.sel), mux.length.eq(cur.length),
            mux.query_base.eq(self.sel), mux.finish.eq(self.finish),
            self.all_selected.eq(mux.all_selected),
            self.busy.eq((inflight != 0) | mux.busy),
        ]
        connect(m, mux.wr, wiring.flipped(self.wr))
        return m
