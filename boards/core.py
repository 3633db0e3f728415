"""The platform-independent logic of a board: UART RX/TX + link (framer) + accelerator."""

from amaranth import Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out, connect

from ternecg.golden.spec.modelfile import IntModel
from ternecg.hw.checks import Checked, check_bool, check_int
from ternecg.hw.top import Accelerator

from . import protocol
from .link import Link
from .uart import UARTRx, UARTTx

__all__ = ["BoardCore", "TIMEOUT_BYTES"]

#: inter-byte timeout of a frame, in byte times (10 bits); ~17 ms at 115200 baud
TIMEOUT_BYTES = 200


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
    def check_arguments(cls, model, *, divisor, parallel=1, timeout_cycles=None, uart=True):
        if not isinstance(model, IntModel):
            raise TypeError(f"BoardCore needs a loaded model file (ternecg.golden.spec.modelfile.load), "
                            f"not {type(model).__name__}")
        if model.cfg.input_length != protocol.WINDOW:
            raise ValueError(f"the serial protocol carries {protocol.WINDOW}-sample beats, but the model "
                             f"expects {model.cfg.input_length}")
        if len(model.cfg.classes) > protocol.MAX_CLASSES:
            raise ValueError(f"the serial protocol carries at most {protocol.MAX_CLASSES} classes, the "
                             f"model has {len(model.cfg.classes)}")
        UARTRx.check_arguments(divisor)
        if timeout_cycles is not None:
            check_int("BoardCore", "timeout_cycles", timeout_cycles, minimum=1)
        check_bool("BoardCore", "uart", uart)
        Accelerator.check_arguments(model, parallel)

    def __init__(self, model, *, divisor, parallel=1, timeout_cycles=None, uart=True):
        self.accel = Accelerator(model, parallel=parallel)
        self.divisor = divisor
        self.uart = uart
        self.timeout_cycles = int(timeout_cycles or TIMEOUT_BYTES * 10 * divisor)
        self.model_id = protocol.model_id(model.sha256)
        self.n_classes = self.accel.schedule.n_classes
        # the model id comes from the accelerator's parameter ROM (a patched bitstream reports
        # its own model), not from a constant in the link's logic
        self.link = Link(self.accel.result_layout, self.n_classes, parallel=parallel,
                         model_id=None, timeout_cycles=self.timeout_cycles, rr_bits=model.cfg.rr_bits)
        if uart:
            self.rx_uart = UARTRx(divisor)
            self.tx_uart = UARTTx(divisor)
            members = {"rx": In(1, init=1), "tx": Out(1, init=1)}
        else:
            members = {"rx": In(stream.Signature(unsigned(8))), "tx": Out(stream.Signature(unsigned(8))),
                       "rx_framing": In(1), "rx_overrun": In(1)}
        super().__init__({**members, "last_cls": Out(self.accel.result_layout.members["cls"]),
                          "activity": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.link = link = self.link
        m.submodules.accel = acc = self.accel
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
        m.d.comb += self.last_cls.eq(link.last_cls)
        connect(m, link.samples, acc.i)
        if self.link.rr_bits:
            connect(m, link.rr, acc.rr)
        connect(m, acc.o, link.results)
        m.d.comb += link.model_id.eq(acc.model_id)
        # activity: toggles on every byte received (a visible blink on a LED when slowed down)
        act = Signal()
        with m.If(got):
            m.d.sync += act.eq(~act)
        m.d.comb += self.activity.eq(act)
        return m
