"""The conv engine's P add/sub/skip lanes: ternary multiply-accumulate without multipliers."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .checks import Checked, check_int

__all__ = ["Lanes"]


class Lanes(Checked, wiring.Component):
    """``parallel`` accumulators that add, subtract or skip one shared input value per transfer.

    A transfer on ``i`` is one tap: the input value ``x`` (shared by the lanes) and the weight
    word ``w`` (lane ``l``'s 2-bit code in bits ``2l .. 2l+1``: 1 adds ``x``, 3 subtracts it, 0 and
    2 skip it). Lane ``l``'s sum is ``x * w_l`` plus its accumulator, or only ``x * w_l`` on the
    ``first`` tap of a position. On the ``last`` tap the ``parallel`` sums go out on ``o`` in the
    same cycle (:attr:`latency` 0): that tap is accepted only together with them (``i.ready`` is
    ``o.ready`` on a last tap, 1 otherwise), so a position's sums are never lost.

    Parameters
    ----------
    parallel : int
        Lanes ``P``.
    acc_width : int
        Width of the signed accumulators (``acc_bits`` of the widest layer: never overflows).
    t_width : int
        Width of the position tag ``t`` carried from the last tap to ``o`` (keyword-only).

    Members
    -------
    i : ``In(stream.Signature(StructLayout({"x", "w", "first", "last", "t"})))``
        Taps: ``x`` is ``signed(9)``, ``w`` is ``unsigned(2 * parallel)``.
    o : ``Out(stream.Signature(StructLayout({"sums", "t"})))``
        One transfer per position: ``sums`` is ``ArrayLayout(signed(acc_width), parallel)``,
        ``t`` the last tap's tag.

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    #: cycles from a position's last tap accepted on ``i`` to its sums on ``o``
    latency = 0

    @classmethod
    def check_arguments(cls, parallel, acc_width, *, t_width):
        check_int("Lanes", "parallel", parallel, minimum=1)
        check_int("Lanes", "acc_width", acc_width, minimum=2)
        check_int("Lanes", "t_width", t_width, minimum=1)

    def __init__(self, parallel, acc_width, *, t_width):
        self._p = parallel
        self._accw = acc_width
        self.tap_layout = data.StructLayout({"x": signed(9), "w": unsigned(2 * parallel),
                                             "first": 1, "last": 1, "t": unsigned(t_width)})
        self.sums_layout = data.StructLayout({"sums": data.ArrayLayout(signed(acc_width), parallel),
                                              "t": unsigned(t_width)})
        super().__init__({
            "i": In(stream.Signature(self.tap_layout)),
            "o": Out(stream.Signature(self.sums_layout)),
        })

    @property
    def parallel(self):
        return self._p

    def elaborate(self, platform):
        m = Module()
        P, accw = self._p, self._accw
        tap = self.i.payload
        accs = [Signal(signed(accw), name=f"acc{l}") for l in range(P)]
        for l in range(P):
            code = tap.w[2 * l:2 * l + 2]
            term = Mux(code == 1, tap.x, Mux(code == 3, -tap.x, 0))
            total = Signal(signed(accw), name=f"sum{l}")
            m.d.comb += [total.eq(Mux(tap.first, 0, accs[l]) + term), self.o.payload.sums[l].eq(total)]
            with m.If(self.i.valid & self.i.ready):
                m.d.sync += accs[l].eq(total)
        m.d.comb += [
            self.o.payload.t.eq(tap.t),
            self.o.valid.eq(self.i.valid & tap.last),
            self.i.ready.eq(~tap.last | self.o.ready),
        ]
        return m
