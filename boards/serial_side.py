"""The serial side shared by the two board cores (boards/core.py, boards/monitor_core.py): their
argument checks, the UART ports (or, with ``uart=False``, the link's byte streams and the UART's
error pulses as ports), the UART wiring to the link and the activity toggle."""

from amaranth import Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out, connect

from ternecg.golden.spec.modelfile import IntModel
from ternecg.hw.checks import check_bool, check_int

from . import protocol
from .uart import UARTRx, UARTTx

__all__ = ["TIMEOUT_BYTES", "check_serial_core", "timeout_cycles_for", "uart_members", "connect_uart",
           "activity_toggle"]

#: inter-byte timeout of a frame, in byte times (10 bits); ~17 ms at 115200 baud
TIMEOUT_BYTES = 200


def check_serial_core(name, model, *, divisor, timeout_cycles, uart, window=None):
    """The checks a board core ``name`` makes of its serial arguments (TypeError/ValueError):
    ``model`` a loaded model file of at most ``protocol.MAX_CLASSES`` classes (and of ``window``
    samples per beat, when given), a UART ``divisor``, ``timeout_cycles`` None or >= 1, ``uart`` a
    bool."""
    if not isinstance(model, IntModel):
        raise TypeError(f"{name} needs a loaded model file (ternecg.golden.spec.modelfile.load), "
                        f"not {type(model).__name__}")
    if window is not None and model.cfg.input_length != window:
        raise ValueError(f"the serial protocol carries {window}-sample beats, but the model "
                         f"expects {model.cfg.input_length}")
    if len(model.cfg.classes) > protocol.MAX_CLASSES:
        raise ValueError(f"the serial protocol carries at most {protocol.MAX_CLASSES} classes, the "
                         f"model has {len(model.cfg.classes)}")
    UARTRx.check_arguments(divisor)
    if timeout_cycles is not None:
        check_int(name, "timeout_cycles", timeout_cycles, minimum=1)
    check_bool(name, "uart", uart)


def timeout_cycles_for(timeout_cycles, divisor) -> int:
    """The link's inter-byte timeout in clock cycles: ``timeout_cycles``, by default
    ``TIMEOUT_BYTES`` byte times at ``divisor`` cycles per bit."""
    return int(timeout_cycles or TIMEOUT_BYTES * 10 * divisor)


def uart_members(core, divisor, uart) -> dict:
    """The signature members of the serial side; with ``uart``, sets ``core.rx_uart`` and
    ``core.tx_uart`` (the UART receiver and transmitter that :func:`connect_uart` adds)."""
    if uart:
        core.rx_uart = UARTRx(divisor)
        core.tx_uart = UARTTx(divisor)
        return {"rx": In(1, init=1), "tx": Out(1, init=1)}
    return {"rx": In(stream.Signature(unsigned(8))), "tx": Out(stream.Signature(unsigned(8))),
            "rx_framing": In(1), "rx_overrun": In(1)}


def connect_uart(m, core, link):
    """Connect ``core``'s serial side to ``link`` (its ``rx``/``tx`` byte streams and UART error
    inputs) in module ``m``: through the UARTs (submodules ``uart_rx``, ``uart_tx``) when
    ``core.uart``, else straight to the core's ports. Returns the value that is 1 in a cycle
    where the link takes a received byte."""
    if core.uart:
        m.submodules.uart_rx = rx = core.rx_uart
        m.submodules.uart_tx = tx = core.tx_uart
        m.d.comb += [rx.rx.eq(core.rx), core.tx.eq(tx.tx),
                     link.uart_overrun.eq(rx.overrun), link.uart_framing.eq(rx.framing)]
        connect(m, rx.o, link.rx)
        connect(m, link.tx, tx.i)
        return rx.o.valid & link.rx.ready
    m.d.comb += [link.uart_overrun.eq(core.rx_overrun), link.uart_framing.eq(core.rx_framing)]
    connect(m, wiring.flipped(core.rx), link.rx)
    connect(m, link.tx, wiring.flipped(core.tx))
    return core.rx.valid & link.rx.ready


def activity_toggle(m, got, activity):
    """``activity`` toggles on every cycle where ``got`` is 1 (every byte received: a visible
    blink on a LED when slowed down)."""
    act = Signal()
    with m.If(got):
        m.d.sync += act.eq(~act)
    m.d.comb += activity.eq(act)
