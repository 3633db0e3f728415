"""The platform-independent logic of a monitor board: UART RX/TX + monitor link + Monitor."""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out, connect

from ternecg.hw.checks import Checked
from ternecg.hw.monitor import Monitor
from ternecg.hw.qrs_ram import check_spram

from . import protocol
from .monitor_link import MonitorLink
from .record_tracker import RecordTracker
from .serial_side import activity_toggle, check_serial_core, connect_uart, timeout_cycles_for, uart_members

__all__ = ["MonitorBoardCore"]


class MonitorBoardCore(Checked, wiring.Component):
    """UART receiver and transmitter, the monitor link (boards/monitor_link.py, protocol version 2)
    and the live monitor (hw/monitor.py: R-peak detector, beat window, RR codes, accelerator).

    The monitor board's tops (boards/top.py, ``app="monitor"``) add only the clock, pins and LEDs;
    the end-to-end simulation (sim/tests/test_monitor_board_cocotb.py) runs exactly this
    component; with ``uart=False`` the link's byte streams and the UART's error pulses are ports.

    Parameters
    ----------
    model : :class:`~ternecg.golden.spec.modelfile.IntModel`
        The monitor's model (240-sample windows at 360 Hz, at most ``MAX_CLASSES`` classes).
    divisor : int
        UART clock cycles per bit (keyword-only, as the rest).
    parallel : int
        Add/sub lanes of the accelerator.
    timeout_cycles : int or None
        The link's inter-byte timeout (default ``TIMEOUT_BYTES`` byte times).
    uart : bool
        With the UART (default) or bypassed.
    spram : bool or None
        The monitor's RAMs (hw/qrs_ram.py: iCE40 SPRAM on an iCE40 UP platform by default).

    Members
    -------
    rx : ``In(1, init=1)``
        The UART receive pin; with ``uart=False``: ``In(stream.Signature(unsigned(8)))``.
    tx : ``Out(1, init=1)``
        The UART transmit pin; with ``uart=False``: ``Out(stream.Signature(unsigned(8)))``.
    rx_framing, rx_overrun : ``In(1)``
        Only with ``uart=False``.
    last_cls : ``Out(cls)``
        The class of the last beat sent (LEDs).
    activity : ``Out(1)``
        Toggles with every byte received.

    Raises
    ------
    TypeError, ValueError
        For a bad argument, before the component exists (the monitor's and the accelerator's
        checks included).
    """

    @classmethod
    def check_arguments(cls, model, *, divisor, parallel=1, timeout_cycles=None, uart=True, spram=None):
        check_serial_core("MonitorBoardCore", model, divisor=divisor, timeout_cycles=timeout_cycles, uart=uart)
        check_spram("MonitorBoardCore", spram)
        Monitor.check_arguments(model, parallel, spram=spram)

    def __init__(self, model, *, divisor, parallel=1, timeout_cycles=None, uart=True, spram=None):
        self.monitor = Monitor(model, parallel, spram=spram)
        self.accel = self.monitor.accelerator       # its parameter ROMs: boards/patch.py
        self.divisor = divisor
        self.uart = uart
        self.timeout_cycles = timeout_cycles_for(timeout_cycles, divisor)
        self.model_id = protocol.model_id(model.sha256)
        self.n_classes = len(model.cfg.classes)
        self.link = MonitorLink(self.monitor.beat_layout, n_classes=self.n_classes, parallel=parallel,
                                timeout_cycles=self.timeout_cycles)
        members = uart_members(self, divisor, uart)
        super().__init__({**members, "last_cls": Out(self.monitor.beat_layout.members["cls"]),
                          "activity": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.link = link = self.link
        m.submodules.monitor = mon = self.monitor
        m.submodules.records = rec = RecordTracker()
        got = connect_uart(m, self, link)
        connect(m, link.samples, mon.samples)
        connect(m, mon.beats, link.beats)
        m.d.comb += [link.monitor_beats.eq(mon.status.beats), link.overruns.eq(mon.status.overruns),
                     link.model_id.eq(mon.model_id), self.last_cls.eq(link.last_cls)]

        # when a record is finished (STATUS done): the front end's handshakes, read through the
        # monitor's public front_end (boards/record_tracker.py)
        fe = mon.front_end
        m.d.comb += [rec.fe_valid.eq(fe.samples.valid), rec.fe_ready.eq(fe.samples.ready),
                     rec.fe_last.eq(fe.samples.payload.last), rec.fe_beat.eq(fe.beats.valid & fe.beats.ready),
                     rec.beat_out.eq(mon.beats.valid & mon.beats.ready), link.record_done.eq(rec.done)]

        activity_toggle(m, got, self.activity)
        return m
