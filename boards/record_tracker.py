"""When the monitor has finished a record: its last sample processed and its last beat sent."""

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RecordTracker"]


class RecordTracker(wiring.Component):
    """Watches the monitor (hw/monitor.py) from outside and pulses ``done`` once per record, when
    every beat of a record that ended (a sample with ``last``) has left the monitor.

    It follows two handshakes inside the monitor and one at its output:

    * the front end's ``samples`` (hw/qrs_front_end.py, a sequencer program): when it has taken a
      sample with ``last``, it flushes the detector and decides the record's last beat; the next
      time it is ``ready`` it waits for the first sample of the next record, so it is done with
      the record (the sequencer raises ``ready`` only while its ``IN`` waits, hw/qrs_sequencer.py);
    * the front end's ``beats`` (a decided beat; the monitor pairs it with the accelerator's
      result in a one-beat slot) and the monitor's ``beats`` (the beat sent): the difference is
      the beat still in the monitor (0 or 1).

    ``done`` pulses in the first cycle in which the front end is done with the record and no
    beat is in the monitor. The next record's first beat cannot be decided before that: the
    detector decides nothing during its first 780 samples (docs/arithmetic.md 9.7).

    Members
    -------
    fe_valid, fe_ready, fe_last : ``In(1)``
        The front end's ``samples`` handshake and the sample's ``last`` flag.
    fe_beat : ``In(1)``
        A transfer on the front end's ``beats``.
    beat_out : ``In(1)``
        A transfer on the monitor's ``beats``.
    done : ``Out(1)``
        One cycle per finished record.
    """

    fe_valid: In(1)
    fe_ready: In(1)
    fe_last: In(1)
    fe_beat: In(1)
    beat_out: In(1)
    done: Out(1)

    def elaborate(self, platform):
        m = Module()
        ending = Signal()       # the front end took a record's last sample and is not back yet
        flushed = Signal()      # ... it is back (waiting for the next record's first sample)
        inside = Signal(2)      # beats decided by the front end and not yet sent by the monitor
        m.d.sync += inside.eq(inside + self.fe_beat - self.beat_out)
        with m.If(ending & self.fe_ready):
            m.d.sync += [ending.eq(0), flushed.eq(1)]
        with m.If(self.fe_valid & self.fe_ready & self.fe_last):
            m.d.sync += ending.eq(1)
        with m.If(flushed & (inside == 0)):
            m.d.comb += self.done.eq(1)
            m.d.sync += flushed.eq(0)
        return m
