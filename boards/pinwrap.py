"""A thin pin wrapper so the accelerator core can be placed and routed on a 39-pin UP5K package.

Only for the hardware report: the raw sample enters through a serial-in shift register (one pin),
and the result payload leaves XOR-folded to 8 pins, so no logic of the core can be optimised
away while the wrapper itself stays at a few dozen logic cells.
"""

from amaranth import Cat, Module, Signal
from amaranth.hdl import Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ternecg.hw.checks import Checked
from ternecg.hw.top import Accelerator

__all__ = ["PinWrapper"]


class PinWrapper(Checked, wiring.Component):
    """The accelerator behind 12 pins: a serial-in sample register and an XOR fold of the result.

    A transfer on the accelerator's ``i`` happens when ``valid_in`` and ``ready_in`` are high; its
    sample is the shift register (shifted in from ``sin`` while ``shift``). A transfer on ``o``
    when ``valid_out`` and ``ready_out``; ``fold`` is the XOR of the result payload's bytes, one
    cycle later.

    Parameters
    ----------
    accelerator : :class:`~ternecg.hw.top.Accelerator`
        The accelerator to wrap (without an RR path).

    Members
    -------
    sin, shift : ``In(1)``
        Serial sample bit and its shift enable.
    valid_in, ready_out : ``In(1)``
        Drive the accelerator's ``i.valid`` and ``o.ready``.
    ready_in, valid_out : ``Out(1)``
        Its ``i.ready`` and ``o.valid``.
    fold : ``Out(8)``
        XOR fold of ``o.payload`` (registered).

    Raises
    ------
    TypeError
        ``accelerator`` is not an Accelerator (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, accelerator):
        if not isinstance(accelerator, Accelerator):
            raise TypeError(f"PinWrapper needs an Accelerator, not {accelerator!r}")

    def __init__(self, accelerator):
        self._acc = accelerator
        super().__init__({"sin": In(1), "shift": In(1), "valid_in": In(1), "ready_out": In(1),
                          "ready_in": Out(1), "valid_out": Out(1), "fold": Out(8)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.acc = acc = self._acc
        sample = Signal(len(Value.cast(acc.i.payload)))     # {sample, last}: shifted in whole
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
