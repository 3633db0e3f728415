"""The live arrhythmia monitor: raw samples in, labelled beats out (docs/arithmetic.md section 10).

    samples -> SampleRing --replay--> FrontEnd (detector, history, beats, RR codes)
                                         |  windows (240 samples)   | beats {index, codes}
                                         v                          v
                                  Accelerator.i          beat slot -> Accelerator.rr
                                  Accelerator.o {cls, logits} + slot index -> beats

The front end decides each beat one beat late (its post interval), handing the accelerator the
beat's window (from its own history of the record's samples) as soon as it has arrived and the
beat's index and RR codes (the three interval codes, and the template code and the irregularity
code for a model that reads them) when it is decided; a one-beat *slot* pairs the index with the
accelerator's result (results come in window order). Every sample goes through an input ring, and
the front end reads it back from there, so while a hand-over waits for the accelerator only the
ring fills: the input is not held up (section 10.4; hw/sample_ring.py).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out, connect, flipped

from ternecg.golden.spec.modelfile import IntModel

from .checks import Checked, check_int
from .qrs_front_end import FrontEnd
from .qrs_program import MAX_RR_LOCAL
from .qrs_ram import check_spram
from .sample_ring import SAMPLE_LAYOUT, SampleRing
from .top import Accelerator

__all__ = ["Monitor", "STATUS_LAYOUT"]

#: ``beats``: beats emitted since reset; ``overruns``: input samples that found the input ring full
STATUS_LAYOUT = data.StructLayout({"beats": unsigned(32), "overruns": unsigned(16)})


class Monitor(Checked, wiring.Component):
    """Raw MLII samples in, one ``{index, cls, logits}`` per beat out, bit-exact with
    :class:`ternecg.golden.monitor.MonitorStream` (and :func:`ternecg.golden.monitor.run`).

    Built around an :class:`~ternecg.hw.top.Accelerator` of ``model`` (through its public
    ``i``, ``rr`` and ``o`` streams only), a :class:`~ternecg.hw.sample_ring.SampleRing` and a
    :class:`~ternecg.hw.qrs_front_end.FrontEnd`.

    Parameters
    ----------
    model : :class:`~ternecg.golden.spec.modelfile.IntModel`
        A loaded model file (360 Hz, 240-sample windows; its ``rr_local`` at most 32; the
        template code, config ``rr_template``, and the irregularity code, ``rr_irregular``, are
        computed by the front end).
    parallel : int
        Lanes of the accelerator's conv engine.
    spram : bool or None (keyword-only)
        The front end's and the ring's RAMs (hw/qrs_ram.py): iCE40 SPRAMs, ``lib.memory``, or
        chosen by the platform. (The accelerator's feature banks follow the platform; its
        normaliser's sample RAM stays in block RAM: with the banks, the ring and the front end
        the UP5K's four SPRAMs are taken.)

    Members
    -------
    samples : ``In(stream.Signature(SAMPLE_LAYOUT))``
        Raw ADC codes (unsigned 11-bit), one transfer per sample, ``last`` on a record's final
        sample (the end-of-record marker: the last beat is decided, the next sample starts a
        record).
    beats : ``Out(stream.Signature({index: 32, cls, logits}))``
        One transfer per beat, in R-peak order: the R-peak sample index in its record, the class
        and the logits (RR terms included), as the accelerator's ``o``.
    status : ``Out(STATUS_LAYOUT)``
        Beats emitted and overruns (hw/sample_ring.py) since reset.
    model_id : ``Out(32)``
        The accelerator's model id.

    Raises
    ------
    TypeError
        ``model`` is not a loaded model file.
    ValueError
        The model's input is not 240 samples or its ``rr_local`` exceeds 32; ``parallel``
        does not fit it (TernEcgError from the accelerator).
    """

    @classmethod
    def check_arguments(cls, model, parallel=1, *, spram=None):
        if not isinstance(model, IntModel):
            raise TypeError(f"Monitor needs a loaded model file (ternecg.golden.spec.modelfile.load), "
                            f"not {type(model).__name__}")
        check_spram("Monitor", spram)
        if model.cfg.input_length != 240:
            raise ValueError(f"Monitor: model {model.cfg.name!r} takes {model.cfg.input_length}-sample "
                             f"windows; the monitor cuts 240 (docs/arithmetic.md 10.2)")
        if model.cfg.rr_bits:
            check_int("Monitor", "model rr_local", model.cfg.rr_local, minimum=1, maximum=MAX_RR_LOCAL)
        Accelerator.check_arguments(model, parallel)

    def __init__(self, model, parallel=1, *, spram=None):
        self._model = model
        # the ring, the front end and the feature banks take the UP5K's four SPRAMs: the
        # normaliser's sample RAM stays in block RAM
        self._acc = Accelerator(model, parallel, norm_spram=False)
        cfg = model.cfg
        self._has_rr = bool(cfg.rr_bits)
        self._ring = SampleRing(spram=spram)
        self._fe = FrontEnd(local=cfg.rr_local if self._has_rr else 8,
                            bits=cfg.rr_bits if self._has_rr else 4,
                            irregular=self._has_rr and bool(cfg.rr_irregular),
                            template=self._has_rr and bool(cfg.rr_template),
                            template_gate=(cfg.rr_template_gate
                                           if self._has_rr and cfg.rr_template else None),
                            spram=spram)
        # the front end's codes word is the accelerator's rr word (rr_features codes of rr_bits)
        assert not self._has_rr or self._acc.rr_width == self._fe.beat_layout["codes"].width, \
            (self._acc.rr_width, self._fe.beat_layout["codes"].width)
        result = self._acc.result_layout
        self.beat_layout = data.StructLayout({"index": unsigned(32), "cls": result["cls"].shape,
                                              "logits": result["logits"].shape})
        super().__init__({
            "samples": In(stream.Signature(SAMPLE_LAYOUT)),
            "beats": Out(stream.Signature(self.beat_layout)),
            "status": Out(STATUS_LAYOUT),
            "model_id": Out(32),
        })

    @property
    def accelerator(self):
        return self._acc

    @property
    def front_end(self):
        return self._fe

    @property
    def sample_ring(self):
        return self._ring

    def param_roms(self):
        """The accelerator's parameter ROMs (hw/params.py): what a bitstream patch replaces."""
        return self._acc.param_roms()

    def elaborate(self, platform):
        m = Module()
        m.submodules.window = ring = self._ring       # "window": the name the board reports use
        m.submodules.front_end = fe = self._fe
        m.submodules.accelerator = acc = self._acc

        connect(m, flipped(self.samples), ring.samples)
        connect(m, ring.replay, fe.samples)

        # window samples -> the accelerator (with the end-of-beat flag if its input has one)
        shape = acc.i.payload.shape()
        m.d.comb += [acc.i.valid.eq(fe.windows.valid), fe.windows.ready.eq(acc.i.ready)]
        if isinstance(shape, data.StructLayout):
            m.d.comb += acc.i.payload.sample.eq(fe.windows.payload.sample)
            if "last" in dict(shape):
                m.d.comb += acc.i.payload.last.eq(fe.windows.payload.last)
        else:
            m.d.comb += acc.i.payload.eq(fe.windows.payload.sample)

        # the beat slot: the index (and RR codes) of the beat whose result comes next
        full = Signal()
        rr_pending = Signal()
        index = Signal(32)
        codes = Signal.like(fe.beats.payload.codes)
        m.d.comb += fe.beats.ready.eq(~full)
        with m.If(fe.beats.valid & fe.beats.ready):
            m.d.sync += [full.eq(1), index.eq(fe.beats.payload.index), codes.eq(fe.beats.payload.codes),
                         rr_pending.eq(int(self._has_rr))]
        if self._has_rr:
            m.d.comb += [acc.rr.valid.eq(rr_pending), acc.rr.payload.eq(codes)]
            with m.If(acc.rr.valid & acc.rr.ready):
                m.d.sync += rr_pending.eq(0)

        count = Signal(32)
        m.d.comb += [
            self.beats.valid.eq(acc.o.valid & full),
            acc.o.ready.eq(self.beats.ready & full),
            self.beats.payload.index.eq(index),
            self.beats.payload.cls.eq(acc.o.payload.cls),
            self.beats.payload.logits.eq(acc.o.payload.logits),
            self.status.beats.eq(count),
            self.status.overruns.eq(ring.overruns),
            self.model_id.eq(acc.model_id),
        ]
        with m.If(self.beats.valid & self.beats.ready):
            m.d.sync += [full.eq(0), count.eq(count + 1)]
        return m
