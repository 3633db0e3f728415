"""The sequencer's phase table: one descriptor per conv layer or MUX-skip branch (hw/schedule.py).

A ROM read asynchronously (it maps to a few LUTs per descriptor bit). Every model-specific
address constant of the engine lives here, channel shuffle included (``out_pass_step``,
``out_group_step``, ``out_stride``), so the table is the only part of the design whose logic
depends on the shuffle: ``make hw-report`` compares it module by module.

Members
-------
addr : In(range(phases))   phase index.
data : Out(layout)         its descriptor.
"""

from amaranth import Module
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from ternecg.errors import TernEcgError


class PhaseTable(wiring.Component):
    def __init__(self, layout, descriptors):
        if not descriptors:
            raise TernEcgError("PhaseTable needs at least one phase descriptor")
        self._layout = layout
        self._init = list(descriptors)
        super().__init__({"addr": In(range(len(self._init))), "data": Out(layout)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.rom = rom = memory.Memory(shape=self._layout, depth=len(self._init), init=self._init)
        rp = rom.read_port(domain="comb")
        m.d.comb += [rp.addr.eq(self.addr), self.data.eq(rp.data)]
        return m
