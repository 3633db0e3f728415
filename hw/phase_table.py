"""The sequencer's phase table: one descriptor per conv layer or MUX-skip branch (hw/schedule.py)."""

from amaranth import Module
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from .checks import Checked

__all__ = ["PhaseTable"]


class PhaseTable(Checked, wiring.Component):
    """A ROM of phase descriptors, read asynchronously (it maps to a few LUTs per descriptor bit).

    Every model-specific address constant of the engine lives here, channel shuffle included
    (``out_pass_step``, ``out_group_step``, ``out_stride``), so the table is the only part of the
    design whose logic depends on the shuffle: ``make hw-report`` compares it module by module.

    Parameters
    ----------
    layout : :class:`~amaranth.lib.data.Layout`
        Layout of one descriptor (``Engine.phase_layout``).
    descriptors : list of dict
        The descriptors, in phase order (at least one), each a constant-castable value of
        ``layout``.

    Members
    -------
    addr : ``In(range(len(descriptors)))``
        Phase index.
    data : ``Out(layout)``
        Its descriptor, in the same cycle (no latency).

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, layout, descriptors):
        if not isinstance(layout, data.Layout):
            raise TypeError(f"PhaseTable layout must be a data.Layout, not {layout!r}")
        if not isinstance(descriptors, (list, tuple)):
            raise TypeError(f"PhaseTable descriptors must be a list, not {type(descriptors).__name__}")
        if not descriptors:
            raise ValueError("PhaseTable needs at least one phase descriptor")

    def __init__(self, layout, descriptors):
        self._layout = layout
        self._init = list(descriptors)
        super().__init__({"addr": In(range(len(self._init))), "data": Out(layout)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.rom = rom = memory.Memory(shape=self._layout, depth=len(self._init), init=self._init)
        rp = rom.read_port(domain="comb")
        m.d.comb += [rp.addr.eq(self.addr), self.data.eq(rp.data)]
        return m
