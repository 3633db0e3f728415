"""The conv engine's write-back: activation units (one per stream) -> MUX-skip unit -> bank writes."""

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .activation import ActivationUnit
from .checks import Checked
from .engine_layout import Descriptor, Widths, bits, check_schedule, descriptor_layout, select_shift
from .mux_skip import MuxSkip
from .serializer import result_tag_layout

__all__ = ["WriteBack"]


class WriteBack(Checked, wiring.Component):
    """Activates the serializer's sums (one per stream per transfer) and writes them, through the
    MUX-skip unit, to the output bank.

    A transfer on ``i`` is one sum per stream with its activation index and tag. Stream r's
    activation unit (``act_units[r]``, :attr:`ActivationUnit.latency` cycles; all of one kind,
    so they run in lockstep) turns it into a b-bit value, which the MUX-skip unit
    (hw/mux_skip.py, 1 cycle) passes on, averages with the depthwise value or drops; the results
    leave on ``wr`` (:attr:`latency` cycles after ``i``; ``wr`` is never back-pressured).
    ``busy`` is high while a sum is inside.

    Parameters
    ----------
    schedule : :class:`~ternecg.hw.schedule.Schedule`
        The compiled schedule (widths, select bits).
    act_units : list of :class:`~ternecg.hw.activation.ActivationUnit`
        One per stream (keyword-only; their ROMs are parameter ROMs of the engine).

    Members
    -------
    i : ``In(stream.Signature(ArrayLayout(StructLayout({"channel", "acc", "tag"}), R)))``
        Sums to activate (``Serializer.act``).
    phase : ``In(descriptor_layout)``
        The current phase (``mode``, ``gap_threshold``).
    rd, rd_data, wr, tap, selects
        As :class:`~ternecg.hw.mux_skip.MuxSkip`'s.
    busy : ``Out(1)``
        A sum is in an activation unit or the MUX-skip unit.

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, schedule, *, act_units):
        check_schedule("WriteBack", schedule)
        units = list(act_units) if isinstance(act_units, (list, tuple)) else None
        if not units or not all(isinstance(u, ActivationUnit) for u in units):
            raise TypeError(f"WriteBack act_units must be a list of ActivationUnit, not {act_units!r}")
        if len(units) != schedule.streams or len({type(u) for u in units}) != 1:
            raise ValueError(f"WriteBack needs {schedule.streams} activation units of one kind")

    def __init__(self, schedule, *, act_units):
        s = self._s = schedule
        w = Widths(s)
        self._units = list(act_units)
        gap_w = bits(((1 << s.act_bits) - 1) * max(ph.length for ph in s.phases))
        self.mux = MuxSkip(act_bits=s.act_bits, tag_shape=result_tag_layout(s), streams=w.R,
                           n_select=w.n_sel, parallel=s.parallel, gap_width=gap_w,
                           shift=select_shift(s), shared=any(ph.gap_shared for ph in s.phases))
        from amaranth.lib import data, stream
        self._in_layout = data.ArrayLayout(self._units[0].i.payload.shape(), w.R)
        super().__init__({
            "i": In(stream.Signature(self._in_layout)),
            "phase": In(descriptor_layout(s)),
            "rd": Out(self.mux.rd.shape()),
            "rd_data": In(self.mux.rd_data.shape()),
            "wr": Out(self.mux.wr.shape()),
            "tap": Out(self.mux.tap.shape()),
            "selects": Out(self.mux.selects.shape()),
            "consume": In(self.mux.consume.shape()),
            "busy": Out(1),
        })

    @property
    def latency(self):
        """Cycles from a sum accepted on ``i`` to its write on ``wr`` (no stalls)."""
        return self._units[0].latency + self.mux.latency

    def elaborate(self, platform):
        m = Module()
        s = self._s
        cur = Descriptor(s, self.phase)
        m.submodules.mux = mux = self.mux
        # results inside the activation units (they run in lockstep: unit 0 speaks for all)
        inflight = Signal(range(64))
        u0 = self._units[0]
        for r, unit in enumerate(self._units):
            m.submodules[f"act{r}" if len(self._units) > 1 else "act"] = unit
            m.d.comb += [unit.i.valid.eq(self.i.valid), unit.i.payload.eq(self.i.payload[r]),
                         unit.o.ready.eq(1),
                         mux.i.payload[r].q.eq(unit.o.payload.q),
                         mux.i.payload[r].tag.eq(unit.o.payload.tag)]
        m.d.comb += [self.i.ready.eq(u0.i.ready), mux.i.valid.eq(u0.o.valid)]
        m.d.sync += inflight.eq(inflight + (u0.i.valid & u0.i.ready) - (u0.o.valid & u0.o.ready))
        m.d.comb += [
            mux.mode.eq(cur.mode), mux.gap_threshold.eq(cur.gap_threshold),
            *([mux.gap_shared.eq(cur.gap_shared)] if "gap_shared" in mux.signature.members else []),
            self.rd.eq(mux.rd), mux.rd_data.eq(self.rd_data), self.wr.eq(mux.wr), self.tap.eq(mux.tap),
            self.selects.eq(mux.selects), mux.consume.eq(self.consume),
            self.busy.eq((inflight != 0) | mux.busy),
        ]
        return m
