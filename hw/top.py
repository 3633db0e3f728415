"""The network top, generated from a model file: normaliser -> conv engine [-> RR table] -> head."""

from amaranth import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out, connect

from ternecg.errors import user_values
from ternecg.golden.spec.modelfile import IntModel
from ternecg.golden.spec.normalize import RAW_BITS

from .checks import Checked, check_bool
from .engine import Engine
from . import engine_layout
from .head import Head
from .normalizer import Normalizer
from .rr_table import RRTable
from .schedule import compile_schedule, cycles
from .tap import TapSignature

__all__ = ["Accelerator"]


class Accelerator(Checked, wiring.Component):
    """The whole beat classifier of a model file: raw samples in, one result per beat out.

    A transfer on ``i`` is one raw sample; after ``input_length`` of them (and, for a model with
    an RR path, the beat's transfer on ``rr``) the beat is normalised, computed by the conv engine
    and classified, and one transfer on ``o`` carries its result. Every model value is in a
    parameter ROM (hw/params.py, :meth:`param_roms`); the logic depends only on the topology and
    the widths.

    Parameters
    ----------
    model : :class:`~ternecg.golden.spec.modelfile.IntModel`
        A loaded model file.
    parallel : int
        Add/sub lanes of the conv engine (must divide every layer's output channels per group).
    debug : bool
        Add the ``dbg`` tap (keyword-only).

    Members
    -------
    i : ``In(stream.Signature(unsigned(11)))``
        Raw samples, ``input_length`` per beat.
    rr : ``In(stream.Signature(unsigned(rr_width)))``
        Only for a model with an RR path (config ``rr_bits``): the beat's RR codes, one transfer
        per beat (hw/rr_table.py), sent before or with its samples.
    o : ``Out(stream.Signature(result_layout))``
        One transfer per beat: ``{cls, logits[n_classes], cycles}`` where ``cycles`` is the
        engine's compute cycles for that beat (equal to ``schedule.cycles``).
    model_id : ``Out(32)``
        The model file's id (hw/params.py ``model_id``), read from the parameter ROM in the first
        cycles after reset.
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

    @classmethod
    def check_arguments(cls, model, parallel=1, *, debug=False):
        if not isinstance(model, IntModel):
            raise TypeError(f"Accelerator needs a loaded model file "
                            f"(ternecg.golden.spec.modelfile.load), not {type(model).__name__}")
        check_bool("Accelerator", "debug", debug)
        s = compile_schedule(model, parallel)          # TernEcgError for a bad parallel
        with user_values(f"model {model.cfg.name!r} cannot be built as hardware"):
            Normalizer.check_arguments(s.input_length, RAW_BITS)
            Engine.check_arguments(s)
            width = engine_layout.logit_width(s)
            if model.rr_table is not None:
                RRTable.check_arguments(model.rr_table, width)
                width = RRTable.output_width(model.rr_table, width)
            Head.check_arguments(s.n_classes, width)

    def __init__(self, model, parallel=1, *, debug=False):
        self._model = model
        self._debug = debug
        self.schedule = compile_schedule(model, parallel)
        self._engine = Engine(self.schedule)
        # wide enough for the worst case with a 4x margin for output back-pressure stalls
        self.cycles_width = (4 * cycles(self.schedule, self._engine.act_latency)).bit_length()
        n = self.schedule.n_classes
        logit_shape = self._engine.logits.payload.shape()
        self._rr = None
        if model.rr_table is not None:
            self._rr = RRTable(model.rr_table, logit_shape.width)
            logit_shape = self._rr.o.payload.shape()
        self.result_layout = data.StructLayout({
            "cls": unsigned(max(1, (n - 1).bit_length())),
            "logits": data.ArrayLayout(logit_shape, n),
            "cycles": unsigned(self.cycles_width),
        })
        members = {"i": In(stream.Signature(unsigned(RAW_BITS))),
                   "o": Out(stream.Signature(self.result_layout)),
                   "model_id": Out(self._engine.model_id.shape())}
        if self._rr is not None:
            members["rr"] = In(stream.Signature(self._rr.rr.payload.shape()))
        if debug:
            members["dbg"] = Out(TapSignature(self._engine.dbg_layout))
        super().__init__(members)

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
        m.submodules.norm = norm = Normalizer(s.input_length, RAW_BITS)
        m.submodules.engine = engine = self._engine
        logit_width = engine.logits.payload.shape().width if self._rr is None else self._rr.out_width
        m.submodules.head = head = Head(s.n_classes, logit_width)
        connect(m, wiring.flipped(self.i), norm.i)
        connect(m, norm.o, engine.x)
        if self._rr is None:
            connect(m, engine.logits, head.i)
        else:
            m.submodules.rr_table = rr = self._rr
            connect(m, wiring.flipped(self.rr), rr.rr)
            connect(m, engine.logits, rr.i)
            connect(m, rr.o, head.i)

        # compute cycles of a beat: from the engine's first busy cycle to the cycle that hands the
        # last logit to the head, inclusive (latched at every logit, so it is final when the head's
        # result appears)
        count = Signal(self.cycles_width)
        last = Signal(self.cycles_width)
        busy_d = Signal()
        m.d.sync += busy_d.eq(engine.busy)
        with m.If(engine.busy & ~busy_d):
            m.d.sync += count.eq(2)         # count = cycles so far + 1: latched as is below
        with m.Elif(engine.busy & (count != (1 << self.cycles_width) - 1)):    # saturates
            m.d.sync += count.eq(count + 1)
        with m.If(engine.logits.valid & engine.logits.ready):
            m.d.sync += last.eq(count)

        m.d.comb += [
            self.o.valid.eq(head.o.valid),
            head.o.ready.eq(self.o.ready),
            self.o.payload.cls.eq(head.o.payload.cls),
            self.o.payload.logits.eq(head.o.payload.logits),
            self.o.payload.cycles.eq(last),
            self.model_id.eq(engine.model_id),
        ]
        if self._debug:
            m.d.comb += [self.dbg.valid.eq(engine.dbg.valid), self.dbg.payload.eq(engine.dbg.payload)]
        return m
