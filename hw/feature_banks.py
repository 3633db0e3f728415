"""The conv engine's feature banks: three banks of M memories each, and the crossbars to them."""

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from .checks import Checked, check_int
from .qrs_ram import SPRAM_WIDTH, SinglePortRam, check_spram, spram_choice

__all__ = ["FeatureBanks", "DISJOINT_ATTRS"]

#: attributes of every feature-bank memory: the engine never reads and writes one word of a bank in
#: the same cycle (the read and write banks of a phase differ; bank 0's halves are written and
#: read apart; the MUX-skip unit reads a word one cycle before it writes it; tests/hw/test_engine.py
#: checks it), so what a read returns on such a collision does not matter. Amaranth declares "old
#: data" on collisions, which Yosys emulates around an iCE40 / ECP5 block RAM with a few dozen
#: flip-flops and LUTs per memory; Yosys' ``no_rw_check`` attribute (memory_libmap) says the
#: collision's data is undefined, so every flow (make synth, hw-report, the board builds) drops that
#: logic. Simulators ignore the attribute.
DISJOINT_ATTRS = {"ternecg_rw": "disjoint", "no_rw_check": 1}


class FeatureBanks(Checked, wiring.Component):
    """Bank 0 (the normalised input, signed 8-bit, two beats: hw/input_loader.py) and banks 1, 2
    (activations, unsigned ``act_bits``), each ``mems`` memories (hw/schedule.py: value ``(slot,
    pos)`` lives in memory ``(slot + pos) mod M``, word ``slot * lq + pos // M``).

    Every cycle each of the ``streams`` may read one word of the input bank (``rd``: the bank
    ``in_bank``), read one word of the output bank (``qa``: ``out_bank``) and write one word of the
    output bank (``wr``). A memory gets the request of the first stream that asks for it; the
    schedule guarantees that streams asking one memory in one cycle ask for the same word
    (:func:`ternecg.hw.schedule.conflict_free`). Read data arrive one cycle after the request and
    stay until the stream's next read.

    With one memory per bank and ``spram`` (default: on an iCE40 UltraPlus platform), banks 1 and 2
    are single-port SPRAMs (hw/qrs_ram.py ``SinglePortRam``, one access per cycle): the engine
    never reads and writes one of them in the same cycle (the input and output banks differ, and
    the MUX-skip unit reads a word one cycle before it writes it, while results arrive at most
    every ``act_bits + 1`` cycles with one lane).

    Parameters
    ----------
    streams, mems : int
        Streams ``R`` and memories per bank ``M`` (a power of two).
    words : list of int
        Words per memory of banks 0, 1, 2 (bank 0: one beat; ``half_bits`` adds the second).
    act_bits : int
        Width of banks 1 and 2.
    half_bits : int
        Address bits of one beat in bank 0 (``InputLoader.half_bits``).
    spram : bool or None
        Banks 1 and 2 in SPRAM (only with one memory per bank); None: on an iCE40 UP platform.

    All but ``streams`` and ``mems`` are keyword-only.

    Members
    -------
    in_bank, out_bank : ``In(2)``
        The phase's banks.
    rd : ``In(ArrayLayout({"mem", "word", "en"}, R))``, rd_data : ``Out(ArrayLayout(signed(9), R))``
        Input-bank reads.
    qa : ``In(ArrayLayout({"mem", "word", "en"}, R))``, qa_data : ``Out(ArrayLayout(unsigned(act_bits), R))``
        Output-bank reads.
    wr : ``In(ArrayLayout({"mem", "word", "data", "en"}, R))``
        Output-bank writes.
    load : ``In(StructLayout({"addr", "data", "en"}))``, half : ``In(1)``
        Bank 0 writes (sample ``addr`` of the loader, ``Cat(n, beat half)``) and the half that the
        engine reads.

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, streams, mems, *, words, act_bits, half_bits, word_width, spram=None):
        check_int("FeatureBanks", "streams", streams, minimum=1)
        check_int("FeatureBanks", "mems", mems, minimum=1)
        if mems & (mems - 1):
            raise ValueError(f"FeatureBanks mems must be a power of two, not {mems}")
        check_int("FeatureBanks", "act_bits", act_bits, minimum=1, maximum=SPRAM_WIDTH)
        check_int("FeatureBanks", "half_bits", half_bits, minimum=0)
        check_spram("FeatureBanks", spram)

    def __init__(self, streams, mems, *, words, act_bits, half_bits, word_width, spram=None):
        self._r, self._m = streams, mems
        self._mb = (mems - 1).bit_length()
        self._words = list(words)
        self._b = act_bits
        self._half_bits = half_bits
        self._spram = spram
        mem = unsigned(max(1, self._mb))
        req = data.StructLayout({"mem": mem, "word": unsigned(word_width), "en": 1})
        wr = data.StructLayout({"mem": mem, "word": unsigned(word_width), "data": unsigned(act_bits), "en": 1})
        load = data.StructLayout({"addr": unsigned(half_bits + 1), "data": signed(8), "en": 1})
        super().__init__({
            "in_bank": In(2), "out_bank": In(2),
            "rd": In(data.ArrayLayout(req, streams)),
            "rd_data": Out(data.ArrayLayout(signed(9), streams)),
            "qa": In(data.ArrayLayout(req, streams)),
            "qa_data": Out(data.ArrayLayout(unsigned(act_bits), streams)),
            "wr": In(data.ArrayLayout(wr, streams)),
            "load": In(load),
            "half": In(1),
        })

    def uses_spram(self, platform):
        if self._m != 1:
            return False
        return spram_choice(self._spram, platform, max(self._words[1:]), SPRAM_WIDTH)

    def memories(self):
        """``[(bank, memory, depth, width)]`` of the lib.memory / SPRAM instances (for reports)."""
        out = []
        for i, w in enumerate(self._words):
            depth = (2 << max(0, self._half_bits - self._mb)) if i == 0 else max(1, w)
            for k in range(self._m):
                out.append((i, k, depth, 8 if i == 0 else self._b))
        return out

    def elaborate(self, platform):
        m = Module()
        R, M, mb = self._r, self._m, self._mb
        spram = self.uses_spram(platform)

        def pick(reqs, k):
            """(word, en) of the first request for memory k."""
            word = Signal(len(reqs[0].word), name=f"pick{k}_word")
            en = Signal(name=f"pick{k}_en")
            # without an enabled request the word is a don't-care (the read is disabled): the first
            # request's, so that with one request the word never waits for its enable (the enable
            # ends the engine's ready chain: hw-report's critical path at P = 1)
            m.d.comb += word.eq(reqs[0].word)
            for req in reversed(reqs):
                with m.If(req.en & ((req.mem == k) if M > 1 else 1)):
                    m.d.comb += [word.eq(req.word), en.eq(1)]
            return word, en

        # ---- bank 0: the loader writes, the engine reads the beat of `half` -----------------------
        sub_bits = max(0, self._half_bits - mb)
        depth0 = 2 << sub_bits
        bank0 = []
        for k in range(M):
            mem = memory.Memory(shape=signed(8), depth=depth0, init=[], attrs=DISJOINT_ATTRS)
            m.submodules[f"bank0_{k}" if M > 1 else "bank0"] = mem
            rp, wp = mem.read_port(), mem.write_port()
            n = self.load.addr[:self._half_bits]
            m.d.comb += [wp.addr.eq(Cat(n[mb:], self.load.addr[self._half_bits])),
                         wp.data.eq(self.load.data),
                         wp.en.eq(self.load.en & ((n[:mb] == k) if M > 1 else 1))]
            word, en = pick(self.rd, k)
            m.d.comb += [rp.addr.eq(Cat(word[:sub_bits], self.half)), rp.en.eq(en & (self.in_bank == 0))]
            bank0.append(rp.data)

        # ---- banks 1 and 2 ---------------------------------------------------------------------------
        banks = {1: [], 2: []}
        qa_out = {1: [], 2: []}
        for i in (1, 2):
            for k in range(M):
                rword, ren = pick(self.rd, k)
                qword, qen = pick(self.qa, k)
                wr_sel = [w for w in self.wr]
                wword = Signal(len(self.wr[0].word), name=f"b{i}_{k}_wword")
                wdata = Signal(self._b, name=f"b{i}_{k}_wdata")
                wen = Signal(name=f"b{i}_{k}_wen")
                for w in reversed(wr_sel):
                    with m.If(w.en & ((w.mem == k) if M > 1 else 1)):
                        m.d.comb += [wword.eq(w.word), wdata.eq(w.data), wen.eq(1)]
                is_in = self.in_bank == i
                is_out = self.out_bank == i
                name = f"bank{i}_{k}" if M > 1 else f"bank{i}"
                if spram:
                    depth = 1 << max(1, (self._words[i] - 1).bit_length())
                    ram = SinglePortRam(depth=depth, width=SPRAM_WIDTH, spram=True)
                    m.submodules[name] = ram
                    we = wen & is_out
                    # the read enable selects the SPRAM only for a read: deselected, it holds its
                    # output, so a tap's data stay while the tap waits (as a block RAM's do)
                    m.d.comb += [ram.we.eq(we), ram.wdata.eq(wdata), ram.re.eq(Mux(is_in, ren, qen)),
                                 ram.addr.eq(Mux(we, wword, Mux(is_in, rword, qword)))]
                    banks[i].append(ram.rdata[:self._b])
                    qa_out[i].append(ram.rdata[:self._b])
                else:
                    mem = memory.Memory(shape=unsigned(self._b), depth=max(1, self._words[i]), init=[],
                                        attrs=DISJOINT_ATTRS)
                    m.submodules[name] = mem
                    rp, wp = mem.read_port(), mem.write_port()
                    m.d.comb += [rp.addr.eq(Mux(is_in, rword, qword)), rp.en.eq(Mux(is_in, ren, qen)),
                                 wp.addr.eq(wword), wp.data.eq(wdata), wp.en.eq(wen & is_out)]
                    banks[i].append(rp.data)
                    qa_out[i].append(rp.data)

        # ---- read data back to the streams (one cycle after the request) -------------------------------
        for r in range(R):
            rmem = Signal(max(1, mb), name=f"rmem{r}")
            qmem = Signal(max(1, mb), name=f"qmem{r}")
            with m.If(self.rd[r].en):
                m.d.sync += rmem.eq(self.rd[r].mem)
            with m.If(self.qa[r].en):
                m.d.sync += qmem.eq(self.qa[r].mem)

            def sel(values, idx):
                if M == 1:
                    return values[0]
                out = Signal(len(values[0]) if hasattr(values[0], "__len__") else 9)
                with m.Switch(idx):
                    for k, v in enumerate(values):
                        with m.Case(k):
                            m.d.comb += out.eq(v)
                return out
            x0 = Signal(signed(8), name=f"x0_{r}")
            x1 = Signal(self._b, name=f"x1_{r}")
            x2 = Signal(self._b, name=f"x2_{r}")
            m.d.comb += [x0.eq(sel(bank0, rmem)), x1.eq(sel(banks[1], rmem)), x2.eq(sel(banks[2], rmem))]
            with m.Switch(self.in_bank):
                with m.Case(0):
                    m.d.comb += self.rd_data[r].eq(x0)
                with m.Case(1):
                    m.d.comb += self.rd_data[r].eq(x1)
                with m.Default():
                    m.d.comb += self.rd_data[r].eq(x2)
            q1 = Signal(self._b, name=f"q1_{r}")
            q2 = Signal(self._b, name=f"q2_{r}")
            m.d.comb += [q1.eq(sel(qa_out[1], qmem)), q2.eq(sel(qa_out[2], qmem)),
                         self.qa_data[r].eq(Mux(self.out_bank == 1, q1, q2))]
        return m
