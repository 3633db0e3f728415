"""The platform-independent logic of a monitor board: UART RX/TX + monitor link + Monitor."""

from amaranth import Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out, connect

from ternecg.golden.spec.modelfile import IntModel
from ternecg.hw.checks import Checked, check_bool, check_int
from ternecg.hw.monitor import Monitor
from ternecg.hw.qrs_ram import check_spram

from . import protocol
from .core import TIMEOUT_BYTES
from .monitor_link import MonitorLink
from .record_tracker import RecordTracker
from .uart import UARTRx, UARTTx

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
        if not isinstance(model, IntModel):
            raise TypeError(f"MonitorBoardCore needs a loaded model file (ternecg.golden.spec.modelfile.load), "
                            f"not {type(model).__name__}")
        if len(model.cfg.classes) > protocol.MAX_CLASSES:
            raise ValueError(f"the serial protocol carries at most {protocol.MAX_CLASSES} classes, the "
                             f"model has {len(model.cfg.classes)}")
        UARTRx.check_arguments(divisor)
        if timeout_cycles is not None:
            check_int("MonitorBoardCore", "timeout_cycles", timeout_cycles, minimum=1)
        check_bool("MonitorBoardCore", "uart", uart)
        check_spram("MonitorBoardCore", spram)
        Monitor.check_arguments(model, parallel, spram=spram)

    def __init__(self, model, *, divisor, parallel=1, timeout_cycles=None, uart=True, spram=None):
        self.monitor = Monitor(model, parallel, spram=spram)
        self.accel = self.monitor.accelerator       # its parameter ROMs: boards/patch.py
        self.divisor = divisor
        self.uart = uart
        self.timeout_cycles = int(timeout_cycles or TIMEOUT_BYTES * 10 * divisor)
        self.model_id = protocol.model_id(model.sha256)
        self.n_classes = len(model.cfg.classes)
        self.link = MonitorLink(self.monitor.beat_layout, n_classes=self.n_classes, parallel=parallel,
                                timeout_cycles=self.timeout_cycles)
        if uart:
            self.rx_uart = UARTRx(divisor)
            self.tx_uart = UARTTx(divisor)
            members = {"rx": In(1, init=1), "tx": Out(1, init=1)}
        else:
            members = {"rx": In(stream.Signature(unsigned(8))), "tx": Out(stream.Signature(unsigned(8))),
                       "rx_framing": In(1), "rx_overrun": In(1)}
        super().__init__({**members, "last_cls": Out(self.monitor.beat_layout.members["cls"]),
                          "activity": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.link = link = self.link
        m.submodules.monitor = mon = self.monitor
        m.submodules.records = rec = RecordTracker()
        if self.uart:
            m.submodules.uart_rx = rx = self.rx_uart
            m.submodules.uart_tx = tx = self.tx_uart
            m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx),
                         link.uart_overrun.eq(rx.overrun), link.uart_framing.eq(rx.framing)]
            connect(m, rx.o, link.rx)
            connect(m, link.tx, tx.i)
            got = rx.o.valid & link.rx.ready
        else:
            m.d.comb += [link.uart_overrun.eq(self.rx_overrun), link.uart_framing.eq(self.rx_framing)]
            connect(m, wiring.flipped(self.rx), link.rx)
            connect(m, link.tx, wiring.flipped(self.tx))
            got = self.rx.valid & link.rx.ready
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

        act = Signal()
        with m.If(got):
            m.d.sync += act.eq(~act)
        m.d.comb += self.activity.eq(act)
        return m
