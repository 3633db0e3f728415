"""The monitor's front end: R-peak detector, beats, their windows and RR codes on one micro-sequencer."""

from __future__ import annotations

from amaranth.hdl import Module, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ternecg.golden.spec.normalize import RAW_BITS

from .checks import Checked, check_bool, check_int
from .qrs_program import MAX_RR_BITS, MAX_RR_LOCAL, WINDOW_LAST, front_end_program
from .qrs_ram import check_spram
from .qrs_sequencer import QrsSequencer
from .sample_ring import SAMPLE_LAYOUT

__all__ = ["FrontEnd"]


class FrontEnd(Checked, wiring.Component):
    """Raw samples in; the monitor's beats (docs/arithmetic.md section 10) out, as two streams.

    One program of the front-end micro-sequencer (hw/qrs_program.py ``front_end_program``): the
    R-peak detector of section 9 (the same code as :class:`~ternecg.hw.qrs_detector.QrsDetector`),
    the beats of 10.1 (detections whose window lies inside the record), their RR codes of 10.2
    (the code of :class:`~ternecg.hw.rr_unit.RRUnit`: the three interval codes, with
    ``irregular`` also the irregularity code; with ``template`` the template code of each
    beat's window, computed by the same program when the window is taken), their windows
    (10.2, from the program's history of the record's last 2,048 samples, in the sequencer's
    RAM) and the order of 10.4.
    When a beat's window has arrived, the previous beat is decided: ``beats`` carries it (its
    R-peak index and codes), then ``windows`` the new beat's 240 samples, ``last`` on the final
    one. At the end of a record (``last``): the detector's flush, the last beat with post = pre.

    In the monitor the front end reads its samples from an input ring (hw/sample_ring.py), so a
    send that waits (for the accelerator) only lets the ring fill; it never makes the input
    wait.

    Parameters
    ----------
    local, bits : int (keyword-only)
        ``rr_local`` and ``rr_bits`` of the model (the codes); a model without an RR path uses
        the defaults and ignores ``codes``.
    irregular : bool (keyword-only)
        ``rr_irregular`` of the model: one more code, the irregularity code (default False).
    template : bool (keyword-only)
        ``rr_template`` of the model: one more code, the template code (golden/spec/rr.py
        ``Template``), before the irregularity code (default False).
    template_gate : int or None (keyword-only)
        ``rr_template_gate`` of the model (1 .. 2^bits): the template is updated by the beats
        whose code is below it; None (default): 2^bits, every beat. Used with ``template`` only.
    spram : bool or None (keyword-only)
        The data RAM (hw/qrs_ram.py).

    Members
    -------
    samples : ``In(stream.Signature(SAMPLE_LAYOUT))``
        The record's raw samples (from the ring).
    beats : ``Out(stream.Signature({index: 32, codes: F * bits}))``
        A decided beat: its R-peak sample index in the record and its RR codes (``F`` = 3 +
        ``template`` + ``irregular``: the interval codes, the template code as code 3, the
        irregularity code last; code ``f`` in bits ``f*bits .. f*bits + bits - 1``, the layout of
        the accelerator's ``rr`` stream).
    windows : ``Out(stream.Signature(SAMPLE_LAYOUT))``
        A beat's window: the raw samples ``r - 120 .. r + 119``, ``last`` on the final one.

    Raises
    ------
    TypeError, ValueError
        For a bad argument.
    """

    @classmethod
    def check_arguments(cls, *, local=8, bits=4, irregular=False, template=False,
                        template_gate=None, spram=None):
        check_spram("FrontEnd", spram)
        check_int("FrontEnd", "local", local, minimum=1, maximum=MAX_RR_LOCAL)
        check_int("FrontEnd", "bits", bits, minimum=1, maximum=MAX_RR_BITS)
        check_bool("FrontEnd", "irregular", irregular)
        check_bool("FrontEnd", "template", template)
        if template_gate is not None:
            check_int("FrontEnd", "template_gate", template_gate, minimum=1, maximum=1 << bits)

    def __init__(self, *, local=8, bits=4, irregular=False, template=False, template_gate=None,
                 spram=None):
        self._program = front_end_program(local=local, bits=bits, irregular=irregular,
                                          template=template,
                                          template_gate=template_gate if template else None)
        self._spram = spram
        width = (3 + template + irregular) * bits
        self.beat_layout = data.StructLayout({"index": unsigned(32), "codes": unsigned(width)})
        super().__init__({
            "samples": In(stream.Signature(SAMPLE_LAYOUT)),
            "beats": Out(stream.Signature(self.beat_layout)),
            "windows": Out(stream.Signature(SAMPLE_LAYOUT)),
        })

    @property
    def program(self):
        """The assembled program (hw/qrs_program.py) the sequencer runs."""
        return self._program

    def elaborate(self, platform):
        m = Module()
        m.submodules.seq = seq = QrsSequencer(self._program, spram=self._spram)
        m.d.comb += [
            seq.samples.valid.eq(self.samples.valid),
            seq.samples.payload.data.eq(self.samples.payload.sample),
            seq.samples.payload.last.eq(self.samples.payload.last),
            self.samples.ready.eq(seq.samples.ready),
            self.beats.valid.eq(seq.beats.valid),
            self.beats.payload.index.eq(seq.beats.payload.value),
            self.beats.payload.codes.eq(seq.beats.payload.codes),
            seq.beats.ready.eq(self.beats.ready),
            self.windows.valid.eq(seq.windows.valid),
            self.windows.payload.sample.eq(seq.windows.payload.value[0:RAW_BITS]),
            self.windows.payload.last.eq(seq.windows.payload.value[WINDOW_LAST.bit_length() - 1]),
            seq.windows.ready.eq(self.windows.ready),
        ]
        return m
