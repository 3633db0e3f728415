"""Per-beat normaliser: raw unsigned ADC samples in, signed 8-bit network inputs out.

Bit-exact implementation of :func:`ternecg.golden.normalize.normalize` (docs/arithmetic.md,
section "Normalisation")::

    s    = sum(x[0..L-1])
    mean = (s * MEAN_MUL) >> MEAN_SHIFT
    m    = max(max(x) - mean, mean - min(x))
    k    = smallest k >= 0 with (m >> k) <= OUT_MAX
    y[t] = (x[t] - mean) >> k                  (arithmetic shift)
"""

from functools import reduce
import operator

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ternecg.errors import TernEcgError
from ternecg.golden.normalize import OUT_MAX, mean_constants

__all__ = ["Normalizer"]


class Normalizer(wiring.Component):
    """Normalise one beat of ``length`` raw samples into ``length`` signed 8-bit samples.

    The component works one beat at a time, in three phases:

    1. *Load*: ``i.ready`` is high; ``length`` samples are accepted into a sample RAM while the
       running sum, minimum and maximum are tracked.
    2. *Compute* (3 cycles): ``mean`` (constant multiply by ``MEAN_MUL`` as shifted additions, then
       ``>> MEAN_SHIFT``), ``maxdev``, then the shift ``k`` (priority encoder); the read of the first
       sample is issued in the last of these cycles.
    3. *Emit*: ``length`` outputs ``(x - mean) >> k`` in input order on ``o``; ``i.ready`` is low.
       The RAM read port's enable is the output register's enable, so the payload is held stable
       while ``o.valid`` is high and ``o.ready`` is low.

    After the last output is accepted the component returns to *Load* (next cycle).

    Timing (no stalls): if the last sample of a beat is accepted (``i.valid & i.ready``) in cycle
    ``t``, ``o.valid`` is first high in cycle ``t + latency`` (``latency`` = 4: MEAN, MAXDEV,
    SHIFT + read of sample 0, then output). Outputs then stream one per cycle, and ``i.ready`` is
    high again in cycle ``t + latency + length``. Back-to-back beats therefore take
    :attr:`beat_cycles` = ``2 * length + latency - 1`` cycles each (``length`` load cycles,
    ``latency - 1`` compute cycles, ``length`` emit cycles). Every stall cycle on ``i`` (``valid``
    low) or on ``o`` (``ready`` low while ``valid``) adds exactly one cycle.

    Parameters
    ----------
    length : :class:`int`
        Samples per beat (the window length ``L``); 240 for the shipped network.
    raw_bits : :class:`int`
        Width of the unsigned raw samples; 11 for MIT-BIH.

    Members
    -------
    i : :py:`In(stream.Signature(unsigned(raw_bits)))`
        Raw samples, ``length`` per beat.
    o : :py:`Out(stream.Signature(signed(8)))`
        Normalised samples, ``length`` per beat, in input order.
    """

    #: Cycles from the cycle accepting the last input sample of a beat to the first cycle with
    #: ``o.valid`` high (without stalls): mean, maxdev, shift+first read, then output.
    LATENCY = 4

    def __init__(self, length=240, raw_bits=11):
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            self._fail(f"Normalizer length must be a positive integer, not {length!r}")
        if not isinstance(raw_bits, int) or isinstance(raw_bits, bool) or not 1 <= raw_bits <= 24:
            self._fail(f"Normalizer raw_bits must be an integer in 1..24, not {raw_bits!r}")
        mul, shift = mean_constants(length)
        if mul < 1:
            self._fail(f"Normalizer length {length} is too long for the mean multiplier "
                       f"2**{shift} / length (it rounds to 0)")
        self._length = length
        self._raw_bits = raw_bits
        self._mean_mul = mul
        self._mean_shift = shift
        # Largest shift any beat can need: maxdev <= 2**raw_bits - 1.
        k_max = 0
        while ((1 << raw_bits) - 1) >> k_max > OUT_MAX:
            k_max += 1
        self._k_max = k_max
        super().__init__({
            "i": In(stream.Signature(unsigned(raw_bits))),
            "o": Out(stream.Signature(signed(8))),
        })

    def _fail(self, message):
        self._MustUse__used = True          # no "created but never used" warning for a bad object
        raise TernEcgError(message)

    @property
    def length(self):
        return self._length

    @property
    def raw_bits(self):
        return self._raw_bits

    @property
    def latency(self):
        """Cycles from accepting the last input sample of a beat to the first ``o.valid`` (no stalls)."""
        return self.LATENCY

    @property
    def beat_cycles(self):
        """Cycles per beat when input is always valid and output always ready (back-to-back beats)."""
        return 2 * self._length + self.LATENCY - 1

    def elaborate(self, platform):
        m = Module()

        L = self._length
        raw_bits = self._raw_bits

        m.submodules.ram = ram = Memory(shape=unsigned(raw_bits), depth=L, init=[])
        wr = ram.write_port()
        rd = ram.read_port()

        sum_bits = raw_bits + (L - 1).bit_length()
        acc = Signal(unsigned(sum_bits))
        lo = Signal(unsigned(raw_bits))
        hi = Signal(unsigned(raw_bits))
        wr_addr = Signal(range(L))
        rd_addr = Signal(range(L + 1))          # number of samples read so far
        mean = Signal(unsigned(raw_bits + 1))
        maxdev = Signal(signed(raw_bits + 3))
        k = Signal(range(self._k_max + 1))
        o_valid = Signal()

        # mean = (sum * MEAN_MUL) >> MEAN_SHIFT, the multiply as one shifted addition per set bit.
        terms = [acc << b for b in range(self._mean_mul.bit_length()) if (self._mean_mul >> b) & 1]
        product = reduce(operator.add, terms)
        mean_next = product >> self._mean_shift

        # Signed views (one guard bit wider than their unsigned sources) for the differences.
        w = raw_bits + 3
        mean_s, hi_s, lo_s, x_s = (Signal(signed(w), name=n) for n in ("mean_s", "hi_s", "lo_s", "x_s"))
        m.d.comb += [mean_s.eq(mean), hi_s.eq(hi), lo_s.eq(lo), x_s.eq(rd.data)]

        # maxdev = max(max - mean, mean - min); may be negative (then k = 0, as in the golden model).
        up = hi_s - mean_s
        down = mean_s - lo_s
        maxdev_next = Mux(up > down, up, down)

        # k = smallest k with (maxdev >> k) <= OUT_MAX: maxdev >> k is monotone in k, so the last
        # (lowest) k that satisfies it, scanning downwards, wins.
        k_next = Signal.like(k)
        m.d.comb += k_next.eq(self._k_max)
        for kk in reversed(range(self._k_max + 1)):
            with m.If((maxdev >> kk) <= OUT_MAX):
                m.d.comb += k_next.eq(kk)

        # Output path: the RAM read data register is the output register.
        advance = ~o_valid | self.o.ready
        fetch = Signal()
        m.d.comb += [
            wr.addr.eq(wr_addr),
            wr.data.eq(self.i.payload),
            rd.addr.eq(rd_addr),
            rd.en.eq(fetch),
            self.o.valid.eq(o_valid),
            self.o.payload.eq((x_s - mean_s) >> k),
        ]

        with m.FSM(name="phase"):
            with m.State("LOAD"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    m.d.comb += wr.en.eq(1)
                    x = self.i.payload
                    with m.If(wr_addr == 0):
                        m.d.sync += [acc.eq(x), lo.eq(x), hi.eq(x)]
                    with m.Else():
                        m.d.sync += [
                            acc.eq(acc + x),
                            lo.eq(Mux(x < lo, x, lo)),
                            hi.eq(Mux(x > hi, x, hi)),
                        ]
                    with m.If(wr_addr == L - 1):
                        m.d.sync += wr_addr.eq(0)
                        m.next = "MEAN"
                    with m.Else():
                        m.d.sync += wr_addr.eq(wr_addr + 1)
            with m.State("MEAN"):
                m.d.sync += mean.eq(mean_next)
                m.next = "MAXDEV"
            with m.State("MAXDEV"):
                m.d.sync += maxdev.eq(maxdev_next)
                m.next = "SHIFT"
            with m.State("SHIFT"):
                # o_valid is low here: issue the read of sample 0 so it is valid next cycle.
                m.d.sync += k.eq(k_next)
                m.d.comb += [fetch.eq(1), rd.addr.eq(0)]
                m.d.sync += [rd_addr.eq(1), o_valid.eq(1)]
                m.next = "EMIT"
            with m.State("EMIT"):
                with m.If(advance):
                    with m.If(rd_addr != L):
                        m.d.comb += fetch.eq(1)
                        m.d.sync += [rd_addr.eq(rd_addr + 1), o_valid.eq(1)]
                    with m.Else():
                        # The last output is being accepted (or was): back to loading.
                        m.d.sync += o_valid.eq(0)
                        m.next = "LOAD"

        return m
