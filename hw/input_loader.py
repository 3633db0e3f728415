"""The conv engine's input loader: normalised beats into the two halves of feature bank 0."""

from amaranth import Cat, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .checks import Checked, check_int

__all__ = ["InputLoader"]


class InputLoader(Checked, wiring.Component):
    """Writes beats of ``length`` samples into the two halves of bank 0, one beat per half, so
    that the next beat is loaded while the engine computes the current one.

    Bank 0 has ``2 * 2**half_bits`` words (:attr:`depth`, ``half_bits = bits(length - 1)``; one
    iCE40 block RAM as 512 x 8 for 240 samples): sample ``n`` of a beat goes to address
    ``n + 2**half_bits * half`` (``Cat(n, half)``) in the cycle it is accepted on ``x``. The halves
    are filled alternately, and read in the same order: the engine reads the beat of half
    ``rd_half``. ``loaded`` is high while at least one complete beat waits in bank 0 (from the cycle
    after its last sample); ``clear`` (the engine finished the beat of ``rd_half``) frees that half
    and moves ``rd_half`` on. ``x`` is ready while a half is free: two beats are held at most (the
    one being computed and the next).

    Parameters
    ----------
    length : int
        Samples per beat (the network's ``input_length``).

    Members
    -------
    x : ``In(stream.Signature(signed(8)))``
        Normalised samples, one per transfer, ``length`` per beat.
    wr : ``Out(stream.Signature(StructLayout({"addr", "data"}), always_ready=True))``
        Bank 0 writes, one per accepted sample (in the same cycle: no latency).
    rd_half : ``Out(1)``
        The half of bank 0 holding the beat that the engine computes next (the top address bit of
        its reads).
    loaded : ``Out(1)``
        A complete beat is in bank 0.
    clear : ``In(1)``
        The engine finished the beat of ``rd_half`` (one cycle; only while ``loaded``).

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
        self._half_bits = max(1, (length - 1).bit_length())
        wr = data.StructLayout({"addr": unsigned(self._half_bits + 1), "data": signed(8)})
        super().__init__({
            "x": In(stream.Signature(signed(8))),
            "wr": Out(stream.Signature(wr, always_ready=True)),
            "rd_half": Out(1),
            "loaded": Out(1),
            "clear": In(1),
        })

    @property
    def length(self):
        return self._length

    @property
    def half_bits(self):
        """Address bits of one half of bank 0 (the engine's reads use these low bits)."""
        return self._half_bits

    @property
    def depth(self):
        """Words of bank 0: two halves of ``2**half_bits``."""
        return 2 << self._half_bits

    def elaborate(self, platform):
        m = Module()
        count = Signal(self._half_bits)
        wr_half = Signal()
        held = Signal(range(3))                 # complete beats in bank 0 (0, 1 or 2)
        take = self.x.valid & self.x.ready
        end = take & (count == self._length - 1)
        m.d.comb += [self.wr.payload.addr.eq(Cat(count, wr_half)), self.wr.payload.data.eq(self.x.payload),
                     self.wr.valid.eq(take), self.x.ready.eq(held != 2), self.loaded.eq(held != 0)]
        with m.If(take):
            m.d.sync += count.eq(count + 1)
        with m.If(end):
            m.d.sync += [count.eq(0), wr_half.eq(~wr_half)]
        with m.If(self.clear):
            m.d.sync += self.rd_half.eq(~self.rd_half)
        with m.If(end & ~self.clear):
            m.d.sync += held.eq(held + 1)
        with m.Elif(self.clear & ~end):
            m.d.sync += held.eq(held - 1)
        return m
