"""8N1 UART receiver and transmitter with ``lib.stream`` byte interfaces.

``divisor`` is clock cycles per bit (``round(f_clk / baud)``, :func:`divisor_for`): 104 for
115200 baud at 12 MHz, 217 at 25 MHz.
"""

from amaranth import Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from ternecg.errors import TernEcgError
from ternecg.hw.checks import Checked, check_int

__all__ = ["UARTRx", "UARTTx", "divisor_for"]


def divisor_for(clk_hz: float, baud: int) -> int:
    """Cycles per bit; raises TernEcgError if the baud rate is not a positive integer or the
    divisor is off by more than 2 %."""
    if not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0:
        raise TernEcgError(f"baud rate must be a positive integer, not {baud!r}")
    div = int(round(clk_hz / baud))
    if div < 4:
        raise TernEcgError(f"baud rate {baud} is too fast for a {clk_hz / 1e6:g} MHz clock "
                           f"(needs at least 4 clock cycles per bit); choose at most {int(clk_hz // 4)}")
    err = abs(clk_hz / div - baud) / baud
    if err > 0.02:
        raise TernEcgError(f"baud rate {baud} cannot be made from a {clk_hz / 1e6:g} MHz clock "
                           f"(error {100 * err:.1f} %); choose e.g. 115200 or a divisor of the clock")
    return div


class UARTRx(Checked, wiring.Component):
    """8N1 receiver: the ``rx`` pin in, one transfer on ``o`` per byte received.

    The pin goes through a two-stage :class:`~amaranth.lib.cdc.FFSynchronizer`; a start bit is
    validated at mid-bit and every bit is sampled at its centre (so ``divisor >= 4``). A byte is
    offered on ``o`` from the cycle after its stop bit's centre until taken.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (at least 4).

    Members
    -------
    rx : ``In(1, init=1)``
        The receive pin (idle high).
    o : ``Out(stream.Signature(unsigned(8)))``
        Received bytes, one per transfer.
    overrun : ``Out(1)``
        A one-cycle pulse when a byte completes while the previous one is still not taken (the
        new byte is dropped).
    framing : ``Out(1)``
        A one-cycle pulse when a stop bit is low (the byte is dropped and the receiver waits for
        the line to go idle). Never in the same cycle as a new byte on ``o``.

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, divisor):
        check_int("UARTRx", "divisor (clock cycles per bit)", divisor, minimum=4)

    def __init__(self, divisor: int):
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "o": Out(stream.Signature(unsigned(8))),
                          "overrun": Out(1), "framing": Out(1)})

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        rx = Signal(init=1)
        m.submodules.rx_sync = FFSynchronizer(self.rx, rx, init=1)

        timer = Signal(range(d + d // 2 + 1))
        timer_dec = Signal(len(timer) + 1)      # its borrow: the timer is 0 (no comparison)
        m.d.comb += timer_dec.eq(timer - 1)
        # the data bits shift in at the top; a marker bit, set at the start bit, shifts ahead of
        # them and reaches bit 0 at the eighth data bit (no bit counter)
        shreg = Signal(8)
        valid = Signal()
        data = Signal(8)
        m.d.comb += [self.o.valid.eq(valid), self.o.payload.eq(data)]
        with m.If(self.o.ready):
            m.d.sync += valid.eq(0)
        m.d.sync += [self.overrun.eq(0), self.framing.eq(0)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(d // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer_dec[-1]):
                    with m.If(rx):                      # glitch, not a start bit
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [timer.eq(d - 1), shreg.eq(0x80)]
                        m.next = "DATA"
                with m.Else():
                    m.d.sync += timer.eq(timer_dec)
            with m.State("DATA"):
                with m.If(timer_dec[-1]):
                    m.d.sync += [shreg.eq((shreg >> 1) | (rx << 7)), timer.eq(d - 1)]
                    with m.If(shreg[0]):                # the marker: this was the eighth bit
                        m.next = "STOP"
                with m.Else():
                    m.d.sync += timer.eq(timer_dec)
            with m.State("STOP"):
                with m.If(timer_dec[-1]):
                    with m.If(~rx):
                        m.d.sync += self.framing.eq(1)
                        m.next = "BREAK"
                    with m.Else():
                        with m.If(valid & ~self.o.ready):
                            m.d.sync += self.overrun.eq(1)
                        with m.Else():
                            m.d.sync += [valid.eq(1), data.eq(shreg)]
                        m.next = "IDLE"
                with m.Else():
                    m.d.sync += timer.eq(timer_dec)
            with m.State("BREAK"):                      # wait for the line to be idle again
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UARTTx(Checked, wiring.Component):
    """8N1 transmitter: one byte per transfer on ``i`` out on the ``tx`` pin.

    A byte is taken (``i.ready``) when the previous one's stop bit is complete and sent as a
    start bit, 8 data bits (LSB first) and a stop bit of ``divisor`` cycles each.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (at least 4).

    Members
    -------
    i : ``In(stream.Signature(unsigned(8)))``
        Bytes to send, one per transfer.
    tx : ``Out(1, init=1)``
        The transmit pin (idle high).

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, divisor):
        check_int("UARTTx", "divisor (clock cycles per bit)", divisor, minimum=4)

    def __init__(self, divisor: int):
        self.divisor = divisor
        super().__init__({"i": In(stream.Signature(unsigned(8))), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        timer = Signal(range(d))
        timer_dec = Signal(len(timer) + 1)      # its borrow: the timer is 0 (no comparison)
        m.d.comb += timer_dec.eq(timer - 1)
        # start bit, 8 data bits, stop bit and a marker 1 above them; zeros shift in, so the
        # character is done (and the line idle, at the marker's 1) when only the marker is left
        shreg = Signal(11, init=1)
        m.d.comb += self.tx.eq(shreg[0])
        with m.If(shreg[1:] == 0):
            m.d.comb += self.i.ready.eq(1)
            with m.If(self.i.valid):
                m.d.sync += [shreg.eq((0b11 << 9) | (self.i.payload << 1)), timer.eq(d - 1)]
        with m.Else():
            with m.If(timer_dec[-1]):
                m.d.sync += [shreg.eq(shreg >> 1), timer.eq(d - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer_dec)
        return m
