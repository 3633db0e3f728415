"""The platform-independent logic of a board: UART RX/TX + link (framer) + accelerator.

BoardCore members: ``rx`` (In 1, the UART receive pin, idle high), ``tx`` (Out 1), ``last_cls``
(Out, the class of the last result, for LEDs), ``busy`` (Out 1, a beat is in the accelerator or
being received). Board tops (boards/top.py) only add the clock, pins and LEDs; the end-to-end
simulation (sim/tests/test_board_cocotb.py) runs exactly this component.
"""

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, connect

from ternecg.errors import TernEcgError
from ternecg.golden.spec.modelfile import IntModel
from ternecg.hw.top import Accelerator

from . import protocol
from .link import Link
from .uart import UARTRx, UARTTx

#: inter-byte timeout of a frame, in byte times (10 bits); ~17 ms at 115200 baud
TIMEOUT_BYTES = 200


class BoardCore(wiring.Component):
    def __init__(self, model: IntModel, *, divisor: int, parallel: int = 1, timeout_cycles=None):
        if not isinstance(model, IntModel):
            raise TernEcgError("BoardCore needs a loaded model file (ternecg.golden.spec.modelfile.load)")
        self.accel = Accelerator(model, parallel=parallel)
        if self.accel.schedule.input_length != protocol.WINDOW:
            raise TernEcgError(f"the serial protocol carries {protocol.WINDOW}-sample beats, but the model "
                               f"expects {self.accel.schedule.input_length}")
        if self.accel.schedule.n_classes > protocol.MAX_CLASSES:
            raise TernEcgError(f"the serial protocol carries at most {protocol.MAX_CLASSES} classes")
        self.divisor = divisor
        self.timeout_cycles = int(timeout_cycles or TIMEOUT_BYTES * 10 * divisor)
        self.model_id = protocol.model_id(model.sha256)
        self.n_classes = self.accel.schedule.n_classes
        # the model id comes from the accelerator's parameter ROM (a patched bitstream reports
        # its own model), not from a constant in the link's logic
        self.link = Link(self.accel.result_layout, self.n_classes, parallel=parallel,
                         model_id=None, timeout_cycles=self.timeout_cycles, rr_bits=model.cfg.rr_bits)
        self.rx_uart = UARTRx(divisor)
        self.tx_uart = UARTTx(divisor)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1),
                          "last_cls": Out(self.accel.result_layout.members["cls"]),
                          "activity": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = rx = self.rx_uart
        m.submodules.uart_tx = tx = self.tx_uart
        m.submodules.link = link = self.link
        m.submodules.accel = acc = self.accel
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx),
                     link.uart_overrun.eq(rx.overrun), link.uart_framing.eq(rx.framing),
                     self.last_cls.eq(link.last_cls)]
        connect(m, rx.o, link.rx)
        connect(m, link.tx, tx.i)
        connect(m, link.samples, acc.i)
        if self.link.rr_bits:
            connect(m, link.rr, acc.rr)
        connect(m, acc.o, link.results)
        m.d.comb += link.model_id.eq(acc.model_id)
        # activity: toggles on every byte received (a visible blink on a LED when slowed down)
        act = Signal()
        with m.If(rx.o.valid & link.rx.ready):
            m.d.sync += act.eq(~act)
        m.d.comb += self.activity.eq(act)
        return m
