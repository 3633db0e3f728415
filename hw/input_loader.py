"""The conv engine's input loader: one beat of normalised samples into feature bank 0."""

from amaranth import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .checks import Checked, check_int

__all__ = ["InputLoader"]


class InputLoader(Checked, wiring.Component):
    """Write one beat of ``length`` samples into bank 0, then hold off until the beat is done.

    Sample ``n`` of the beat (the ``n``-th transfer on ``x``) is written to address ``n`` in the
    cycle it is accepted. After the last one ``loaded`` is high (from the next cycle) and ``x``
    stays not ready until ``clear``; ``x`` is also not ready while ``busy`` (the engine computing
    a beat, which reads bank 0).

    Parameters
    ----------
    length : int
        Samples per beat (the network's ``input_length``).

    Members
    -------
    x : ``In(stream.Signature(signed(8)))``
        Normalised samples, one per transfer.
    wr : ``Out(stream.Signature(StructLayout({"addr", "data"}), always_ready=True))``
        Bank 0 writes, one per accepted sample (in the same cycle: no latency).
    loaded : ``Out(1)``
        The beat is complete in bank 0.
    busy : ``In(1)``
        The engine is computing: do not accept samples.
    clear : ``In(1)``
        The beat is done: start the next one (``loaded`` falls in the next cycle).

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, length):
        check_int("InputLoader", "length", length, minimum=1)

    def __init__(self, length):
        self._length = length
        wr = data.StructLayout({"addr": range(length + 1), "data": signed(8)})
        super().__init__({
            "x": In(stream.Signature(signed(8))),
            "wr": Out(stream.Signature(wr, always_ready=True)),
            "loaded": Out(1),
            "busy": In(1),
            "clear": In(1),
        })

    @property
    def length(self):
        return self._length

    def elaborate(self, platform):
        m = Module()
        count = Signal(range(self._length + 1))
        m.d.comb += [self.wr.payload.addr.eq(count), self.wr.payload.data.eq(self.x.payload),
                     self.x.ready.eq(~self.loaded & ~self.busy),
                     self.wr.valid.eq(self.x.valid & self.x.ready)]
        with m.If(self.x.valid & self.x.ready):
            m.d.sync += count.eq(count + 1)
            with m.If(count == self._length - 1):
                m.d.sync += self.loaded.eq(1)
        with m.If(self.clear):
            m.d.sync += [self.loaded.eq(0), count.eq(0)]
        return m
