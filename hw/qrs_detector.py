"""The streaming R-peak detector in hardware: docs/arithmetic.md section 9, bit-exact with golden/qrs.py."""

from __future__ import annotations

from amaranth.hdl import Module, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ternecg.errors import TernEcgError
from ternecg.golden.spec.qrs import qrs_params

from .sample_ring import SAMPLE_LAYOUT
from .checks import Checked, check_int
from .qrs_ram import check_spram
from .qrs_program import detector_program
from .qrs_sequencer import QrsSequencer

__all__ = ["QrsDetector", "PEAK_LAYOUT"]

#: an R peak (its sample index in the record) or, with ``end`` set, the end-of-record marker
#: (``index`` = the record's length)
PEAK_LAYOUT = data.StructLayout({"index": unsigned(32), "end": 1})


class QrsDetector(Checked, wiring.Component):
    """The integer R-peak detector of docs/arithmetic.md section 9, one sample at a time.

    A program of the front-end micro-sequencer (hw/qrs_program.py ``detector_program``, run by
    hw/qrs_sequencer.py): for the same samples it reports the same R peaks as
    :class:`ternecg.golden.qrs.QrsStream`, each before it accepts the next sample (so at the
    same sample). After a sample with ``last`` set it runs the end of a record (9.5: the flush
    with 119 copies of the last sample, keeping the peaks inside the record), sends the marker
    ``{index: record length, end: 1}`` and starts the next record from its initial state.

    Throughput: a sample costs the cycles of its program path (hw/qrs_model.py counts them; a
    typical sample about 130, the worst case a few thousand: ``ternecg monitor-report``), so at
    12 MHz the detector keeps up with far more than 360 Hz; ``samples.ready`` is low while it
    works.

    Parameters
    ----------
    fs : int (keyword-only)
        Sampling rate in Hz (the delay lines hold 128 samples: ``fs`` up to 384 Hz; 360 for
        MIT-BIH).
    spram : bool or None (keyword-only)
        The data RAM (hw/qrs_ram.py): an iCE40 SPRAM, ``lib.memory``, or chosen by the platform.

    Members
    -------
    samples : ``In(stream.Signature(SAMPLE_LAYOUT))``
        Raw ADC codes (unsigned 11-bit) and the end-of-record flag.
    peaks : ``Out(stream.Signature(PEAK_LAYOUT))``
        R-peak sample indices (32 bits, counted from the record's first sample) and end markers.

    Raises
    ------
    TypeError, ValueError
        For a bad argument.
    """

    @classmethod
    def check_arguments(cls, *, fs=360, spram=None):
        check_spram("QrsDetector", spram)
        check_int("QrsDetector", "fs", fs)
        try:
            P = qrs_params(fs)
        except TernEcgError as exc:
            raise ValueError(f"QrsDetector: {exc}") from None
        if P.peak_half + P.refine_lo + 1 > 128 or P.mwi_len + P.peak_half >= 128:
            raise ValueError(f"QrsDetector fs {fs} Hz: the delay lines hold 128 samples, enough up to "
                             f"384 Hz; resample to 360 Hz")

    def __init__(self, *, fs=360, spram=None):
        self._params = qrs_params(fs)
        self._program = detector_program(fs)
        self._spram = spram
        super().__init__({
            "samples": In(stream.Signature(SAMPLE_LAYOUT)),
            "peaks": Out(stream.Signature(PEAK_LAYOUT)),
        })

    @property
    def params(self):
        """The detector's constants (:class:`ternecg.golden.spec.qrs.QrsParams`)."""
        return self._params

    @property
    def program(self):
        """The assembled program (hw/qrs_program.py) the sequencer runs."""
        return self._program

    @property
    def latency(self):
        """Largest number of samples from a regular beat's R peak to the sample at which it is
        reported (9.7: 119 at 360 Hz); search-back beats come up to ``1.5 * RRMAX`` later."""
        return self._params.latency

    def elaborate(self, platform):
        m = Module()
        m.submodules.seq = seq = QrsSequencer(self._program, spram=self._spram)
        m.d.comb += [
            seq.samples.valid.eq(self.samples.valid),
            seq.samples.payload.data.eq(self.samples.payload.sample),
            seq.samples.payload.last.eq(self.samples.payload.last),
            self.samples.ready.eq(seq.samples.ready),
            self.peaks.valid.eq(seq.peaks.valid),
            self.peaks.payload.index.eq(seq.peaks.payload.value),
            self.peaks.payload.end.eq(seq.peaks.payload.end),
            seq.peaks.ready.eq(self.peaks.ready),
        ]
        return m
