"""The platform-independent logic of a board: UART RX/TX + link (framer) + accelerator."""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out, connect

from ternecg.hw.checks import Checked
from ternecg.hw.top import Accelerator

from . import protocol
from .link import Link
from .serial_side import (TIMEOUT_BYTES, activity_toggle, check_serial_core, connect_uart, timeout_cycles_for,
                          uart_members)

__all__ = ["BoardCore", "TIMEOUT_BYTES"]


class BoardCore(Checked, wiring.Component):
    """UART receiver and transmitter, the serial link (boards/link.py) and the accelerator.

    Board tops (boards/top.py) only add the clock, pins and LEDs; the end-to-end simulation
    (sim/tests/test_board_cocotb.py) runs exactly this component, the protocol fuzz
    (boards/fuzz.py) runs it with ``uart=False``: the link's byte streams and the UART's error
    pulses are then ports, so a test can drive a byte per cycle and inject framing errors.

    Parameters
    ----------
    model : :class:`~ternecg.golden.spec.modelfile.IntModel`
        The model (its beats must be ``protocol.WINDOW`` samples, at most ``MAX_CLASSES`` classes).
    divisor : int
        UART clock cycles per bit (keyword-only, as the rest; ``uart.divisor_for``).
    parallel : int
        Add/sub lanes of the accelerator.
    timeout_cycles : int or None
        The link's inter-byte timeout (default ``TIMEOUT_BYTES`` byte times).
    uart : bool
        With the UART (default); ``False`` bypasses it (see above).
    spram : bool or None
        The link's beat buffer, the normaliser's sample RAM and feature banks 1 and 2 (one memory
        per bank) in iCE40 SPRAM (hw/qrs_ram.py); None (default): on an iCE40 UP platform (the
        iCEBreaker: its four SPRAMs at P = 1).

    Members
    -------
    rx : ``In(1, init=1)``
        The UART receive pin, idle high; with ``uart=False``: ``In(stream.Signature(unsigned(8)))``,
        received bytes.
    tx : ``Out(1, init=1)``
        The UART transmit pin; with ``uart=False``: ``Out(stream.Signature(unsigned(8)))``.
    rx_framing, rx_overrun : ``In(1)``
        Only with ``uart=False``: the UART receiver's error pulses.
    last_cls : ``Out(cls)``
        The class of the last result (LEDs).
    activity : ``Out(1)``
        Toggles with every byte received.

    Raises
    ------
    TypeError, ValueError
        For a bad argument, before the component exists (a parallelism that does not fit the
        model: TernEcgError, from the accelerator).
    """

    @classmethod
    def check_arguments(cls, model, *, divisor, parallel=1, timeout_cycles=None, uart=True, spram=None):
        check_serial_core("BoardCore", model, divisor=divisor, timeout_cycles=timeout_cycles, uart=uart,
                          window=protocol.WINDOW)
        Accelerator.check_arguments(model, parallel, spram=spram)

    def __init__(self, model, *, divisor, parallel=1, timeout_cycles=None, uart=True, spram=None):
        self.accel = Accelerator(model, parallel=parallel, spram=spram)
        self.divisor = divisor
        self.uart = uart
        self.timeout_cycles = timeout_cycles_for(timeout_cycles, divisor)
        self.model_id = protocol.model_id(model.sha256)
        self.n_classes = self.accel.schedule.n_classes
        # the model id comes from the accelerator's parameter ROM (a patched bitstream reports
        # its own model), not from a constant in the link's logic
        self.link = Link(self.accel.result_layout, self.n_classes, parallel=parallel,
                         model_id=None, timeout_cycles=self.timeout_cycles, rr_bits=model.cfg.rr_bits,
                         n_codes=max(1, model.cfg.rr_features), spram=spram)
        members = uart_members(self, divisor, uart)
        super().__init__({**members, "last_cls": Out(self.accel.result_layout.members["cls"]),
                          "activity": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.link = link = self.link
        m.submodules.accel = acc = self.accel
        got = connect_uart(m, self, link)
        m.d.comb += self.last_cls.eq(link.last_cls)
        connect(m, link.samples, acc.i)
        if self.link.rr_bits:
            connect(m, link.rr, acc.rr)
        connect(m, acc.o, link.results)
        m.d.comb += link.model_id.eq(acc.model_id)
        activity_toggle(m, got, self.activity)
        return m
