"""Per-beat normaliser: raw unsigned ADC samples in, signed 8-bit network inputs out.

Bit-exact implementation of :func:`ternecg.golden.normalize.normalize` (docs/arithmetic.md,
section "Normalisation")::

    s    = sum(x[0..L-1])
    mean = (s * MEAN_MUL) >> MEAN_SHIFT
    m    = max(max(x) - mean, mean - min(x))
    k    = smallest k >= 0 with (m >> k) <= OUT_MAX
    y[t] = (x[t] - mean) >> k                  (arithmetic shift)

The datapath is built for a small iCE40 footprint (one shared adder for the sum and the mean,
carry-chain-only comparators, one output subtractor); see :class:`Normalizer`.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ternecg.golden.spec.normalize import MEAN_SHIFT, OUT_MAX, mean_constants

from .checks import Checked, check_int
from .qrs_ram import SPRAM_DEPTH, SPRAM_WIDTH, SinglePortRam, check_spram, spram_choice
from .tap import TapSignature

__all__ = ["Normalizer", "sample_layout", "BEAT_LAYOUT"]


def sample_layout(raw_bits=11):
    """Payload of a raw-sample stream: ``{"sample": unsigned(raw_bits), "last": 1}``, LSB first;
    ``last`` marks the final sample of a beat (in the manner of ``lib.stream`` packet layouts)."""
    return data.StructLayout({"sample": unsigned(raw_bits), "last": 1})


#: payload of the normaliser's ``beat`` strobe: ``err`` = the beat was dropped (wrong length)
BEAT_LAYOUT = data.StructLayout({"err": 1})


def _mean_steps(mul, shift):
    """Right-shift recurrence for ``mean = (s * mul) >> shift``.

    With the set bits ``b_0 < ... < b_{n-1}`` of ``mul`` and ``b_n = shift``:
    ``c_0 = 0``, ``c_{i+1} = (c_i + s) >> (b_{i+1} - b_i)``, ``mean = c_n`` (exact: by induction
    ``c_i = floor(sum_{j<i} s * 2**b_j / 2**b_i)``). Returns ``(steps, extra)``: the per-step
    shifts done in hardware, and a final shift done by wiring (taking a slice), so that for
    ``mul = 0x1111`` every step shifts by 4 and ``extra = 4``.
    """
    bits = [b for b in range(mul.bit_length()) if (mul >> b) & 1]
    steps = [bits[i + 1] - bits[i] for i in range(len(bits) - 1)] + [shift - bits[-1]]
    extra = 0
    if len(steps) > 1 and steps[-1] > steps[-2]:
        extra = steps[-1] - steps[-2]
        steps[-1] = steps[-2]
    return steps, extra


class Normalizer(Checked, wiring.Component):
    """Normalise one beat of ``length`` raw samples into ``length`` signed 8-bit samples.

    The component works one beat at a time, in four phases:

    1. *Load* (``length`` accepted samples): ``i.ready`` is high; every accepted sample is written
       to a sample RAM and added to the running sum, and the running maximum and minimum are
       updated. The adder accumulates ``-x - 1`` (the inverted sample, which the comparators need
       anyway) onto ``length``, so it ends on ``-s``.
    2. *Mean* (``n`` cycles, ``n`` = number of set bits of ``MEAN_MUL``, 4 for 240): the same adder
       runs the recurrence ``c <- (s + c) >> 4`` on the inverted register ``nc = ~c``
       (``nc <- (-s + nc) >> 4``), which yields ``mean = (s * 0x1111) >> 20`` exactly, as ``~mean``.
    3. *Shift* (1 cycle): ``k`` from the top bits of ``max - mean`` and ``mean - min`` (two
       carry chains), registered; the read of sample 0 is issued.
    4. *Emit* (``length`` accepted outputs): ``(x - mean) >> k`` in input order on ``o``;
       ``i.ready`` is low. The RAM read port's enable is the output register's enable, so the
       payload is held stable while ``o.valid`` is high and ``o.ready`` is low.

    After the last output is accepted the component returns to *Load* (next cycle).

    Framing: a beat is the samples up to and including the next one with ``last`` set. A beat of
    exactly ``length`` samples is normalised as above. A *short* beat (``last`` on sample
    ``n < length``) is dropped when its ``last`` sample is accepted: the next cycle is a fresh
    *Load*. A *long* beat (no ``last`` on sample ``length``) is dropped too: the component then
    accepts and discards samples (*Skip*, ``i.ready`` high) up to and including the next ``last``,
    then returns to *Load*. Every beat, kept or dropped, is reported on the ``beat`` tap in the
    cycle its ``last`` sample is accepted, with ``err`` set for a dropped one; a dropped beat
    produces no output. So one missing or extra sample costs that beat only.

    All registers
    reset to 0 (cheapest on iCE40); the datapath is initialised in that cycle and in the one
    boot cycle after reset, so ``i.ready`` first rises in the second cycle after reset.

    Timing (no stalls): if the last sample of a beat is accepted (``i.valid & i.ready``) in cycle
    ``t``, ``o.valid`` is first high in cycle ``t + latency`` with ``latency = n + 2`` (6 for the
    shipped 240-sample beat: 4 mean steps, the shift cycle, then output). Outputs then stream one
    per cycle, and ``i.ready`` is high again in cycle ``t + latency + length``. Back-to-back beats
    therefore take :attr:`beat_cycles` = ``2 * length + latency - 1`` cycles each (``length``
    load cycles, ``latency - 1`` compute cycles, ``length`` emit cycles; 485 for 240). Every stall
    cycle on ``i`` (``valid`` low) or on ``o`` (``ready`` low while ``valid``) adds exactly one
    cycle.

    Parameters
    ----------
    length : :class:`int`
        Samples per beat (the window length ``L``); 240 for the shipped network.
    raw_bits : :class:`int`
        Width of the unsigned raw samples; 11 for MIT-BIH.
    spram : bool or None (keyword-only)
        The sample RAM: ``True``, an iCE40 UP5K SPRAM (hw/qrs_ram.py ``SinglePortRam``: the RAM
        is never read and written in the same cycle, and a deselected SPRAM holds its output, so
        the payload holds too); ``False``, ``lib.memory`` (one block RAM on an FPGA); ``None``
        (default): the SPRAM on an iCE40 UP platform, ``lib.memory`` otherwise.

    Members
    -------
    i : :py:`In(stream.Signature(sample_layout(raw_bits)))`
        Raw samples ``{sample, last}``, one per transfer, ``length`` transfers per beat, ``last``
        on the final one.
    o : :py:`Out(stream.Signature(signed(8)))`
        Normalised samples, one per transfer, ``length`` per beat, in input order.
    beat : :py:`Out(TapSignature(BEAT_LAYOUT))`
        A tap (valid, no ready: hw/tap.py), valid once per beat received, in the cycle its
        ``last`` sample is accepted; ``err`` set when the beat was dropped (short or long). A
        user that must record every beat end stops the input while it cannot (the accelerator
        does: hw/top.py).

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    #: :attr:`latency` of the shipped configuration (``length`` = 240, ``raw_bits`` = 11): cycles
    #: from the cycle accepting the last input sample of a beat to the first cycle with ``o.valid``
    #: high (without stalls): 4 mean steps, the shift cycle, then output.
    LATENCY = 6

    @staticmethod
    def _plan(length, raw_bits):
        """``(mean_mul, steps, extra, s_max, c_max, k_max)``; TypeError / ValueError for bad
        arguments."""
        check_int("Normalizer", "length", length, minimum=1)
        check_int("Normalizer", "raw_bits", raw_bits, minimum=1, maximum=24)
        mul, shift = mean_constants(length)
        if mul < 1:
            raise ValueError(f"Normalizer length {length} is too long for the mean multiplier "
                             f"2**{shift} / length (it rounds to 0)")
        assert shift == MEAN_SHIFT and (OUT_MAX + 1) & OUT_MAX == 0
        steps, extra = _mean_steps(mul, shift)
        # Bounds (the recurrence is monotone in s): largest sum, largest c, largest mean.
        x_max = (1 << raw_bits) - 1
        s_max = length * x_max
        c, c_max = 0, 0
        for step in steps:
            c = (c + s_max) >> step
            c_max = max(c_max, c)
        mean_max = c >> extra
        assert mean_max == (s_max * mul) >> shift
        if mean_max > x_max:
            raise ValueError(f"Normalizer length {length}: the mean multiplier overshoots "
                             f"(mean up to {mean_max} > {x_max})")
        # Largest shift any beat can need: maxdev <= 2**raw_bits - 1.
        k_max = 0
        while x_max >> k_max > OUT_MAX:
            k_max += 1
        return mul, steps, extra, s_max, c_max, k_max

    @classmethod
    def check_arguments(cls, length=240, raw_bits=11, *, spram=None):
        cls._plan(length, raw_bits)
        check_spram("Normalizer", spram)
        depth = 1 << max(1, (length - 1).bit_length())
        if spram and (depth > SPRAM_DEPTH or raw_bits > SPRAM_WIDTH):
            raise ValueError(f"Normalizer spram: {depth} x {raw_bits}-bit samples do not fit an SPRAM "
                             f"({SPRAM_DEPTH} x {SPRAM_WIDTH}); use spram=False")

    def __init__(self, length=240, raw_bits=11, *, spram=None):
        mul, self._steps, self._extra, self._s_max, self._c_max, self._k_max = self._plan(length, raw_bits)
        self._length = length
        self._raw_bits = raw_bits
        self._spram = spram
        self._mean_mul = mul
        self._mean_shift = MEAN_SHIFT
        super().__init__({
            "i": In(stream.Signature(sample_layout(raw_bits))),
            "o": Out(stream.Signature(signed(8))),
            "beat": Out(TapSignature(BEAT_LAYOUT)),
        })

    @property
    def length(self):
        return self._length

    @property
    def raw_bits(self):
        return self._raw_bits

    def uses_spram(self, platform) -> bool:
        """Whether the sample RAM is an SPRAM when elaborated for ``platform``."""
        return spram_choice(self._spram, platform, 1 << max(1, (self._length - 1).bit_length()),
                            self._raw_bits)

    @property
    def mean_steps(self):
        """Cycles of the mean phase (set bits of the mean multiplier; 4 for 240)."""
        return len(self._steps)

    @property
    def latency(self):
        """Cycles from accepting the last input sample of a beat to the first ``o.valid`` (no
        stalls): :attr:`mean_steps` + 2 (:attr:`LATENCY` for the shipped configuration)."""
        return self.mean_steps + 2

    @property
    def beat_cycles(self):
        """Cycles per beat when input is always valid and output always ready (back-to-back beats)."""
        return 2 * self._length + self.latency - 1

    def elaborate(self, platform):
        m = Module()

        L = self._length
        rb = self._raw_bits
        steps, extra = self._steps, self._extra
        out_bits = OUT_MAX.bit_length()                     # 7: y in -2**7 .. 2**7 - 1

        # --- phase flags (one-hot; all zero in the boot cycle after reset) ---------------------
        # Every register resets (and powers up) to 0: an iCE40 flip-flop with a non-zero initial
        # value costs inverters. The datapath registers are initialised by `clear` instead, in
        # the boot cycle after reset and when the last output of a beat is accepted.
        at_end = Signal()               # the sample counter is at the last sample of a beat
        booted = Signal()
        load = Signal()
        skip = Signal()                 # discarding the rest of a long beat
        mean_ph = [Signal(name=f"mean{j}") for j in range(len(steps))]
        kcalc = Signal()
        emit = Signal()                 # showing a sample that is not the last one
        last = Signal()                 # showing the last sample of the beat
        o_valid = emit | last
        accept = load & self.i.valid
        is_last = self.i.payload.last
        done = last & self.o.ready
        short = Signal()                # a `last` before sample `length`: drop the beat
        skip_end = Signal()             # the `last` that ends a long beat
        clear = Signal()
        m.d.comb += [short.eq(accept & is_last & ~at_end),
                     skip_end.eq(skip & self.i.valid & is_last),
                     clear.eq(done | ~booted | short | skip_end)]
        m.d.sync += booted.eq(1)

        # --- sample RAM and its (shared write/read) address counter --------------------------
        cnt_bits = max(1, (L - 1).bit_length())
        cnt = Signal(cnt_bits)
        m.d.comb += at_end.eq(cnt == L - 1)
        with m.If(accept | kcalc | (emit & self.o.ready)):
            m.d.sync += cnt.eq(Mux(at_end, 0, cnt + 1))       # counts modulo L
        with m.If(short):
            m.d.sync += cnt.eq(0)
        rd_en = kcalc | (o_valid & self.o.ready)
        if self.uses_spram(platform):
            # one address (the counter), a write only in load, a read only in kcalc / emit; with
            # the read enable low the SPRAM keeps its output (the held payload below)
            m.submodules.ram = ram = SinglePortRam(depth=1 << cnt_bits, width=rb, spram=True)
            m.d.comb += [ram.addr.eq(cnt), ram.wdata.eq(self.i.payload.sample),
                         ram.we.eq(accept & ~ram.re), ram.re.eq(rd_en)]
            rd_data = ram.rdata
        else:
            m.submodules.ram = ram = Memory(shape=unsigned(rb), depth=1 << cnt_bits, init=[])
            wr = ram.write_port()
            rd = ram.read_port()
            rd_data = rd.data
            m.d.comb += [
                rd.addr.eq(cnt), rd.en.eq(rd_en),
                # (`& ~rd.en` is always true in load; it tells yosys that the ports never collide,
                # otherwise it adds write-delay registers and a bypass comparator around the EBR.)
                wr.addr.eq(cnt), wr.data.eq(self.i.payload.sample), wr.en.eq(accept & ~rd.en),
            ]

        # --- one adder for the sum (load) and the mean recurrence (mean phase) ---------------
        # nc = ~c, sign-extended; it is -1 during load, so the operand b is then the
        # sign-extended ~x = -x - 1 (and the same LUTs give the comparators their ~x).
        nc_bits = max(self._c_max.bit_length() + 1, rb + 1)
        acc_bits = (self._s_max + self._c_max + 1).bit_length() + 1
        acc = Signal(signed(acc_bits), reset_less=True)      # L - sum(x + 1) = -s after load
        nc = Signal(signed(nc_bits), reset_less=True)
        nx = Signal(rb)
        m.d.comb += nx.eq(Mux(load, ~self.i.payload.sample, nc[:rb]))
        b = Cat(nx, nc[rb:]).as_signed()
        total = Signal(signed(acc_bits))
        m.d.comb += total.eq(acc + b)
        with m.If(clear):
            m.d.sync += acc.eq(L)
        with m.Elif(accept):
            m.d.sync += acc.eq(total)

        # nc <- (nc - s) >> step  ==  ~((c + s) >> step)
        nc_next = total >> steps[-1]
        for j, step in enumerate(steps[:-1]):
            if step != steps[-1]:
                nc_next = Mux(mean_ph[j], total >> step, nc_next)
        with m.If(clear):
            m.d.sync += nc.eq(-1)
        with m.Elif(Cat(*mean_ph).any()):
            m.d.sync += nc.eq(nc_next)
        nm = Signal(signed(nc_bits - extra))                  # ~mean = -mean - 1
        m.d.comb += nm.eq(nc >> extra)

        # --- running maximum / minimum: carry-only comparators against ~x --------------------
        x = self.i.payload.sample
        hi = Signal(rb, reset_less=True)
        lo = Signal(rb, reset_less=True)
        x_gt_hi = ~(hi + nx + 1)[rb]                         # hi - x + 2**rb < 2**rb
        x_lt_lo = (lo + nx)[rb]                              # lo - x - 1 + 2**rb >= 2**rb
        with m.If(clear):
            m.d.sync += hi.eq(0)
        with m.Elif(accept & x_gt_hi):
            m.d.sync += hi.eq(x)
        with m.If(clear):
            m.d.sync += lo.eq((1 << rb) - 1)
        with m.Elif(accept & x_lt_lo):
            m.d.sync += lo.eq(x)

        # --- shift k from the top bits of max - mean and mean - min ---------------------------
        # k = bitlength(max(m, 0) >> 7) = bitlength((up+ >> 7) | (down+ >> 7)).
        k = Signal(range(self._k_max + 1))
        if self._k_max:
            w = max(rb, len(nm)) + 1
            up = Signal(signed(w))                            # max - mean
            ndown = Signal(signed(w))                         # min + ~mean = ~(mean - min)
            m.d.comb += [up.eq(hi + nm + 1), ndown.eq(lo + nm)]
            up_pos = ~up[-1]
            if self._mean_mul * L <= 1 << self._mean_shift:
                up_pos = Const(1)                             # mean <= true mean <= max
            down_pos = ndown[-1]
            t = [(up[out_bits + j] & up_pos) | (~ndown[out_bits + j] & down_pos)
                 for j in range(self._k_max)]
            with m.If(kcalc):
                m.d.sync += k.eq(0)
                for j in range(self._k_max):
                    with m.If(t[j]):
                        m.d.sync += k.eq(j + 1)

        # --- output: (x - mean) >> k --------------------------------------------------------
        d = Signal(signed(max(rb, len(nm)) + 1))
        m.d.comb += d.eq(rd_data + nm + 1)
        # y = d >> k fits in 8 bits, so its sign bit is d's sign bit for every k; each other bit
        # is a (k_max + 1):1 multiplexer over d, built from the binary k (3 LUT4s per bit for k <= 4).
        def select(j, pos, width):
            # d[j + k] for the k >= pos that agree with the mux path so far (k bits below width
            # still open); k > k_max never happens, so those leaves reuse k_max's input.
            if width == 0 or pos >= self._k_max:
                return d[j + min(pos, self._k_max)]
            return Mux(k[width - 1], select(j, pos + (1 << (width - 1)), width - 1),
                       select(j, pos, width - 1))
        y = [select(j, 0, len(k)) for j in range(out_bits)]
        y = Cat(*y)
        m.d.comb += [
            self.o.payload.eq(Cat(y[:out_bits], d[-1])),
            self.o.valid.eq(o_valid),
            self.i.ready.eq(load | skip),
            self.beat.valid.eq(self.i.valid & self.i.ready & is_last),
            self.beat.payload.err.eq(skip | ~at_end),
        ]

        # --- phase sequencing ----------------------------------------------------------------
        with m.If(accept & at_end):
            m.d.sync += load.eq(0)
            with m.If(~is_last):
                m.d.sync += skip.eq(1)
        with m.If(skip_end):
            m.d.sync += skip.eq(0)
        m.d.sync += mean_ph[0].eq(accept & at_end & is_last)
        for a, b_ in zip(mean_ph, mean_ph[1:]):
            m.d.sync += b_.eq(a)
        m.d.sync += kcalc.eq(mean_ph[-1])
        with m.If(kcalc):
            m.d.sync += [emit.eq(~at_end), last.eq(at_end)]
        with m.If(emit & self.o.ready & at_end):
            m.d.sync += [emit.eq(0), last.eq(1)]
        with m.If(clear):
            m.d.sync += [last.eq(0), load.eq(1)]

        return m
