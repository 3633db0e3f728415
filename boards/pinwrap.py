"""A thin pin wrapper so the accelerator core can be placed and routed on a 39-pin UP5K package.

Only for the hardware report: the raw sample enters through a serial-in shift register (one pin),
and the result payload leaves XOR-folded to 8 pins, so no logic of the core can be optimised
away while the wrapper itself stays at a few dozen logic cells.

Members
-------
sin, shift : In(1)        serial sample bit and its shift enable.
valid_in, ready_out : In(1)  drive ``i.valid`` and ``o.ready``.
ready_in, valid_out : Out(1) ``i.ready`` and ``o.valid``.
fold : Out(8)             XOR fold of ``o.payload``.
"""

from amaranth import Cat, Module, Signal
from amaranth.hdl import Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class PinWrapper(wiring.Component):
    def __init__(self, accelerator):
        self._acc = accelerator
        super().__init__({"sin": In(1), "shift": In(1), "valid_in": In(1), "ready_out": In(1),
                          "ready_in": Out(1), "valid_out": Out(1), "fold": Out(8)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.acc = acc = self._acc
        sample = Signal(acc.i.payload.shape())
        with m.If(self.shift):
            m.d.sync += sample.eq(Cat(self.sin, sample[:-1]))
        payload = Value.cast(acc.o.payload)
        fold = 0
        for k in range(0, len(payload), 8):
            fold = fold ^ payload[k:k + 8]
        m.d.comb += [acc.i.payload.eq(sample), acc.i.valid.eq(self.valid_in),
                     self.ready_in.eq(acc.i.ready), self.valid_out.eq(acc.o.valid),
                     acc.o.ready.eq(self.ready_out)]
        m.d.sync += self.fold.eq(fold)
        return m
