"""The conv engine's add/sub/skip lanes: ternary multiply-accumulate without multipliers."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .checks import Checked, check_int

__all__ = ["Lanes"]


class Lanes(Checked, wiring.Component):
    """``streams`` x ``lanes`` accumulators; the lanes of a stream add, subtract or skip its input.

    A transfer on ``i`` is one tap: per stream ``r`` the input value ``x[r]`` (shared by that
    stream's lanes) and the weight word ``w`` (lane ``(r, l)``'s 2-bit code in bits ``2 (r L + l)
    ..``: 1 adds ``x``, 3 subtracts it, 0 and 2 skip it). Each lane's sum is its product plus its
    accumulator, or only the product on the ``first`` tap of a tile. On the ``last`` tap the sums
    go out on ``o`` in the same cycle (:attr:`latency` 0); that tap is accepted only together with
    them (``i.ready`` is ``o.ready`` on a last tap, 1 otherwise), so a tile's sums are never lost
    nor handed on twice. While ``hold`` is high no other tap is accepted (the engine holds
    everything while a logit waits; its logits path then refuses the sums too).

    Parameters
    ----------
    streams, lanes : int
        ``R`` and ``L`` (``R * L`` lanes).
    acc_width : int
        Width of the signed accumulators (``acc_bits`` of the widest layer: never overflows).

    Members
    -------
    i : ``In(stream.Signature(StructLayout({"x", "w", "first", "last"})))``
        Taps: ``x`` is ``ArrayLayout(signed(9), R)``, ``w`` is ``unsigned(2 R L)``.
    o : ``Out(stream.Signature(StructLayout({"sums"})))``
        One transfer per tile: ``sums[r][l]`` (``signed(acc_width)``).
    hold : ``In(1)``
        Take no tap but a tile's last (which goes with its sums on ``o``).

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    #: cycles from a tile's last tap accepted on ``i`` to its sums on ``o``
    latency = 0

    @classmethod
    def check_arguments(cls, streams, lanes, acc_width):
        check_int("Lanes", "streams", streams, minimum=1)
        check_int("Lanes", "lanes", lanes, minimum=1)
        check_int("Lanes", "acc_width", acc_width, minimum=2)

    def __init__(self, streams, lanes, acc_width):
        self._r, self._l = streams, lanes
        self._accw = acc_width
        self.tap_layout = data.StructLayout({"x": data.ArrayLayout(signed(9), streams),
                                             "w": unsigned(2 * streams * lanes),
                                             "first": 1, "last": 1})
        self.sums_layout = data.StructLayout({
            "sums": data.ArrayLayout(data.ArrayLayout(signed(acc_width), lanes), streams)})
        super().__init__({
            "i": In(stream.Signature(self.tap_layout)),
            "o": Out(stream.Signature(self.sums_layout)),
            "hold": In(1),
        })

    @property
    def parallel(self):
        return self._r * self._l

    def elaborate(self, platform):
        m = Module()
        R, L, accw = self._r, self._l, self._accw
        tap = self.i.payload
        for r in range(R):
            for l in range(L):
                acc = Signal(signed(accw), name=f"acc{r}_{l}")
                code = tap.w[2 * (r * L + l):2 * (r * L + l) + 2]
                # x, -x or 0 as (x or 0) XOR sub, plus sub: one adder with a carry-in, no negation
                sub = Signal(name=f"sub{r}_{l}")
                xs = Signal(signed(9), name=f"xs{r}_{l}")
                m.d.comb += [sub.eq(code == 3),
                             xs.eq(Mux(code[0], tap.x[r], 0) ^ sub.replicate(9))]
                total = Signal(signed(accw), name=f"sum{r}_{l}")
                m.d.comb += [total.eq(Mux(tap.first, 0, acc) + xs + sub), self.o.payload.sums[r][l].eq(total)]
                with m.If(self.i.valid & self.i.ready):
                    m.d.sync += acc.eq(total)
        m.d.comb += [
            self.o.valid.eq(self.i.valid & tap.last),
            self.i.ready.eq(Mux(tap.last, self.o.ready, ~self.hold)),
        ]
        return m
