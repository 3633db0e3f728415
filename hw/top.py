"""The network top, generated from a model file: normaliser -> conv engine [-> RR table] -> head."""

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out, connect

from ternecg.errors import user_values
from ternecg.golden.spec.modelfile import IntModel
from ternecg.golden.spec.normalize import RAW_BITS

from .checks import Checked, check_bool
from .engine import Engine
from . import engine_layout
from .head import Head
from .normalizer import Normalizer, sample_layout
from .qrs_ram import check_spram
from .params import ID_WORDS
from .rr_gate import RRGate
from .rr_table import RRTable
from .schedule import compile_schedule, cycles
from .tap import TapSignature

__all__ = ["Accelerator"]


class Accelerator(Checked, wiring.Component):
    """The whole beat classifier of a model file: raw samples in, one result per beat out.

    A transfer on ``i`` is one raw sample ``{sample, last}``; a beat is the samples up to and
    including the next one with ``last`` set. A beat of ``input_length`` samples (and, for a model
    with an RR path, its word on ``rr``) is normalised, computed by the conv engine and
    classified; a beat of any other length is dropped (hw/normalizer.py) and gives an error
    result (``err`` = 1, every other field 0). Either way one transfer on ``o`` per beat, in beat
    order. The next beat is normalised and loaded while the engine computes (bank 0 holds two
    beats, hw/input_loader.py), so back-to-back beats follow each other at the engine's compute
    time plus a few cycles. Every model value is in a parameter ROM (hw/params.py,
    :meth:`param_roms`); the logic depends only on the topology and the widths. docs/core.md is
    the integrator's description (ports, timing, buffering, reset).

    Parameters
    ----------
    model : :class:`~ternecg.golden.spec.modelfile.IntModel`
        A loaded model file.
    parallel : int
        Add/sub lanes of the conv engine (must divide every layer's output channels per group).
    debug : bool
        Add the ``dbg`` tap (keyword-only, as the rest).
    spram : bool or None
        Feature banks 1 and 2 (one memory per bank only, hw/feature_banks.py) and the normaliser's
        sample RAM (hw/normalizer.py) in iCE40 SPRAM (hw/qrs_ram.py): ``True``, ``False``
        (``lib.memory``), or ``None`` (default): on an iCE40 UP platform.
    norm_spram : bool or None
        The normaliser's sample RAM alone: ``None`` (default) follows ``spram``; ``False`` keeps
        it in block RAM where ``spram`` puts the banks in SPRAM (the monitor, whose other RAMs
        take the UP5K's four SPRAMs).

    Members
    -------
    i : ``In(stream.Signature(sample_layout(11)))``
        Raw samples ``{sample: unsigned(11), last: 1}``, ``input_length`` per beat, ``last`` on
        the final one.
    rr : ``In(stream.Signature(unsigned(rr_width)))``
        Only for a model with an RR path (config ``rr_bits``): one word of RR codes per beat (a
        dropped beat's word is discarded: hw/rr_gate.py), in beat order; it may come before, with
        or after the beat's samples (the beat's logits wait for it).
    o : ``Out(stream.Signature(result_layout))``
        One transfer per beat: ``{cls, logits[n_classes], cycles, err}`` (LSB first) where
        ``cycles`` is the engine's compute cycles for that beat (equal to ``schedule.cycles``
        of its MUX selects, whatever the stalls on ``i``, ``rr`` and ``o``) and ``err`` marks a
        dropped beat.
    model_id : ``Out(32)``
        The model file's id (hw/params.py ``model_id``), read from the parameter ROM in the first
        cycles after reset (0 until then: :attr:`MODEL_ID_CYCLES`).
    dbg : ``Out(TapSignature)``
        Every feature-bank write ``{layer, addr, data}`` (only with ``debug=True``).

    Raises
    ------
    TypeError
        ``model`` is not a loaded model file, or ``debug`` not a bool.
    TernEcgError
        ``parallel`` does not fit the model, or a value of the model file cannot be built (the
        message names the part and the limit). Both are checked before the component exists.
    """

    #: beats that may have ended (their ``last`` sample accepted) without their result taken: the
    #: depth of the FIFOs of beat ends (result order; RR words)
    ORDER_DEPTH = 4

    @classmethod
    def check_arguments(cls, model, parallel=1, *, debug=False, spram=None, norm_spram=None):
        if not isinstance(model, IntModel):
            raise TypeError(f"Accelerator needs a loaded model file "
                            f"(ternecg.golden.spec.modelfile.load), not {type(model).__name__}")
        check_bool("Accelerator", "debug", debug)
        check_spram("Accelerator", spram)
        if norm_spram is not None and not isinstance(norm_spram, bool):
            raise TypeError(f"Accelerator norm_spram must be True, False or None, not {norm_spram!r}")
        s = compile_schedule(model, parallel)          # TernEcgError for a bad parallel
        with user_values(f"model {model.cfg.name!r} cannot be built as hardware"):
            Normalizer.check_arguments(s.input_length, RAW_BITS,
                                       spram=spram if norm_spram is None else norm_spram)
            Engine.check_arguments(s, spram=spram)
            width = engine_layout.logit_width(s)
            rules = model.rr_rules if model.rr_table is not None else []
            if model.rr_table is not None:
                RRTable.check_arguments(model.rr_table, width, rule_bounds=[r["max_codes"] for r in rules])
                width = RRTable.output_width(model.rr_table, width)
            Head.check_arguments(s.n_classes, width, rules=[(r["from"], r["to"]) for r in rules])

    def __init__(self, model, parallel=1, *, debug=False, spram=None, norm_spram=None):
        self._model = model
        self._debug = debug
        self._norm_spram = spram if norm_spram is None else norm_spram
        self.schedule = compile_schedule(model, parallel)
        self._engine = Engine(self.schedule, spram=spram)
        # exactly the worst case: stalls are not counted (see elaborate)
        self.cycles_width = cycles(self.schedule, self._engine.act_latency).bit_length()
        n = self.schedule.n_classes
        logit_shape = self._engine.logits.payload.shape()
        self._rr = None
        #: the model's RR rules, in order (docs/arithmetic.md 6; empty without): built into the RR
        #: table and the head
        self.rr_rules = list(model.rr_rules) if model.rr_table is not None else []
        if model.rr_table is not None:
            self._rr = RRTable(model.rr_table, logit_shape.width,
                               rule_bounds=[r["max_codes"] for r in self.rr_rules])
            logit_shape = self._rr.o.payload.shape()
        self.result_layout = data.StructLayout({
            "cls": unsigned(max(1, (n - 1).bit_length())),
            "logits": data.ArrayLayout(logit_shape, n),
            "cycles": unsigned(self.cycles_width),
            "err": unsigned(1),
        })
        self.sample_layout = sample_layout(RAW_BITS)
        members = {"i": In(stream.Signature(self.sample_layout)),
                   "o": Out(stream.Signature(self.result_layout)),
                   "model_id": Out(self._engine.model_id.shape())}
        if self._rr is not None:
            members["rr"] = In(stream.Signature(self._rr.rr.payload.shape()))
        if debug:
            members["dbg"] = Out(TapSignature(self._engine.dbg_layout))
        super().__init__(members)

    #: cycles after reset (counted from the first cycle with ``rst`` low) in which ``model_id``
    #: still reads 0; from cycle ``MODEL_ID_CYCLES`` on it holds the id (hw/boot_reader.py)
    MODEL_ID_CYCLES = ID_WORDS + 1

    @property
    def engine(self):
        """The conv engine (hw/engine.py): its ``phase_layout``, ``logit_width``, ``act_unit``."""
        return self._engine

    @property
    def logit_width(self):
        """Width of the engine's signed logits (before the RR table, if any)."""
        return self._engine.logit_width

    @property
    def threshold_width(self):
        """Width of the signed threshold ROM words (hw/activation.py)."""
        return self._engine.act_unit.threshold_width

    def param_roms(self):
        """``{name: MemoryData}``: the parameter ROMs (hw/params.py), the only model-dependent
        contents of the design. Replace their ``init`` before elaboration to build placeholders."""
        roms = dict(self._engine.param_roms())
        if self._rr is not None:
            roms.update(self._rr.param_roms())
        return roms

    @property
    def rr_width(self):
        """Width of the ``rr`` stream's payload (0 for a model without an RR path)."""
        return 0 if self._rr is None else self.rr.payload.shape().width

    @property
    def rr_layout(self):
        """Layout of the ``rr`` stream's payload (``RRTable.code_layout``: the codes of one beat,
        code ``f`` in bits ``[f*b, (f+1)*b)``), or None for a model without an RR path."""
        return None if self._rr is None else self._rr.code_layout

    @property
    def act_latency(self):
        return self._engine.act_latency

    def engine_cycles(self, selects=None):
        """Analytical compute cycles of a beat (worst case without ``selects``)."""
        return cycles(self.schedule, self.act_latency, selects)

    def elaborate(self, platform):
        m = Module()
        s = self.schedule
        n = s.n_classes
        m.submodules.norm = norm = Normalizer(s.input_length, RAW_BITS, spram=self._norm_spram)
        m.submodules.engine = engine = self._engine
        logit_width = engine.logits.payload.shape().width if self._rr is None else self._rr.out_width
        rules = [(r["from"], r["to"]) for r in self.rr_rules]
        m.submodules.head = head = Head(n, logit_width, tag_width=self.cycles_width, order=True, rules=rules)

        # ---- beat order: every beat that ended (kept or dropped), in order, until its result ------
        m.submodules.order = order = fifo.SyncFIFOBuffered(width=1, depth=self.ORDER_DEPTH)
        room = order.w_rdy
        if self._rr is not None:
            m.submodules.rr_gate = gate = RRGate(self._rr.rr.payload.shape().width, depth=self.ORDER_DEPTH)
            room = room & gate.beats.ready
            m.d.comb += [gate.beats.valid.eq(norm.beat.valid), gate.beats.payload.eq(norm.beat.payload.err)]
        # samples go in only while both FIFOs can take the end of the beat they may complete
        m.d.comb += [norm.i.valid.eq(self.i.valid & room), self.i.ready.eq(norm.i.ready & room),
                     norm.i.payload.eq(self.i.payload),
                     order.w_en.eq(norm.beat.valid), order.w_data.eq(norm.beat.payload.err),
                     head.beats.valid.eq(order.r_rdy), head.beats.payload.eq(order.r_data),
                     order.r_en.eq(head.beats.ready)]

        # ---- datapath ------------------------------------------------------------------------------
        connect(m, norm.o, engine.x)
        if self._rr is None:
            connect(m, engine.logits, head.i)
        else:
            m.submodules.rr_table = rr = self._rr
            connect(m, wiring.flipped(self.rr), gate.rr)
            connect(m, gate.o, rr.rr)
            connect(m, engine.logits, rr.i)
            connect(m, rr.o, head.i)
            if rules:
                m.d.comb += head.hit.eq(rr.hit)

        # ---- compute cycles of a beat ------------------------------------------------------------
        # From the engine's first busy cycle to the cycle that hands its last logit on, inclusive,
        # without the cycles in which a logit waits (logits.valid & ~ready: the head or the RR
        # table is full, or the RR word is late). Nothing else of the engine moves in such a
        # cycle (the logits pass is the last of its beat, every pass drains before the next), so
        # the count is exactly schedule.cycles whatever the stalls.
        logits = engine.logits
        count = Signal(self.cycles_width)           # cycles so far + 1, from the second busy cycle
        busy_d = Signal()
        m.d.sync += busy_d.eq(engine.busy)
        with m.If(engine.busy & ~busy_d):
            m.d.sync += count.eq(2)
        with m.Elif(engine.busy & ~(logits.valid & ~logits.ready)):
            m.d.sync += count.eq(count + 1)
        if self._rr is None:
            # the head samples its tag only with the beat's last logit (hw/head.py), in the cycle
            # that hands it on: the count itself
            m.d.comb += head.tag.eq(count)
        else:
            # with an RR table the head takes the beat's last logit a cycle or more after the engine
            # handed it on (the table holds one logit, so the engine cannot hand on the next beat's
            # last logit before the head took this one): the count at that hand-over, held
            k = Signal(range(n))                    # class of the engine's next logit
            last_logit = logits.valid & logits.ready & (k == n - 1)
            with m.If(logits.valid & logits.ready):
                m.d.sync += k.eq(Mux(k == n - 1, 0, k + 1))
            beat_cycles = Signal(self.cycles_width)
            with m.If(last_logit):
                m.d.sync += beat_cycles.eq(count)
            m.d.comb += head.tag.eq(beat_cycles)

        m.d.comb += [
            self.o.valid.eq(head.o.valid),
            head.o.ready.eq(self.o.ready),
            self.o.payload.cls.eq(head.o.payload.cls),
            self.o.payload.logits.eq(head.o.payload.logits),
            self.o.payload.cycles.eq(head.o.payload.tag),
            self.o.payload.err.eq(head.o.payload.err),
            self.model_id.eq(engine.model_id),
        ]
        if self._debug:
            m.d.comb += [self.dbg.valid.eq(engine.dbg.valid), self.dbg.payload.eq(engine.dbg.payload)]
        return m
