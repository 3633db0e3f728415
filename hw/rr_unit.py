"""The RR codes of a stream of R peaks in hardware (docs/arithmetic.md sections 6 and 10.2)."""

from __future__ import annotations

from amaranth.hdl import Module, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .checks import Checked, check_bool, check_int
from .qrs_ram import check_spram
from .qrs_detector import PEAK_LAYOUT
from .qrs_program import MAX_RR_BITS, MAX_RR_LOCAL, rr_program
from .qrs_sequencer import QrsSequencer

__all__ = ["RRUnit"]


class RRUnit(Checked, wiring.Component):
    """Computes each R peak's three RR codes (pre/local, post/local, post/pre), as
    :func:`ternecg.golden.spec.rr.record_codes` over the peaks received, one peak late; with
    ``irregular`` also a fourth, the irregularity code of
    :func:`ternecg.golden.spec.rr.irregular_codes`.

    A program of the front-end micro-sequencer (hw/qrs_program.py ``rr_program``): the last
    ``local`` pre intervals in a ring, their sum ``W`` and count ``K``, ``num = x * K`` by
    repeated addition, and each code in ``bits + 1`` steps of a restoring divider; exact in
    integers for intervals up to 2^32 - 1 samples. (With ``irregular`` the ring also keeps each
    beat's ``|pre - previous pre|``, their sum ``D`` in two cells, and the code is
    ``code(4 D, W)``.) Peak ``n``'s codes go out when peak ``n + 1`` arrives (its post
    interval); at the end marker the last peak goes out with post = pre (a lone peak with every
    interval code ``2^(bits-1)`` and the irregularity code 0), then the marker. Each peak costs
    about 900 cycles (``local`` 8, 4 bits; 1,600 with ``local`` 32: the products ``x * K``), the
    irregularity code about 230 more (on the excerpts' reference peaks, tests/hw/test_qrs_program.py).
    The monitor runs the same program on its front end's sequencer (hw/qrs_front_end.py).

    Parameters
    ----------
    local : int (keyword-only)
        ``rr_local`` of the model config: intervals in the local mean (1 .. 32).
    bits : int (keyword-only)
        ``rr_bits``: bits per code (1 .. 8).
    irregular : bool (keyword-only)
        ``rr_irregular``: also the irregularity code (default False: the three interval codes).
    spram : bool or None (keyword-only)
        The data RAM (hw/qrs_ram.py).

    Members
    -------
    peaks : ``In(stream.Signature(PEAK_LAYOUT))``
        R-peak sample indices in increasing order; ``end`` marks the end of a record (its
        ``index`` is passed on).
    codes : ``Out(stream.Signature({index: 32, codes: F * bits, end: 1}))``
        A peak and its codes (``F`` = 3, or 4 with ``irregular``; code ``f`` in bits
        ``f*bits .. f*bits + bits - 1``, the layout of the accelerator's ``rr`` stream), or the
        end marker.

    Raises
    ------
    TypeError, ValueError
        For a bad argument.
    """

    @classmethod
    def check_arguments(cls, *, local=8, bits=4, irregular=False, spram=None):
        check_spram("RRUnit", spram)
        check_int("RRUnit", "local", local, minimum=1, maximum=MAX_RR_LOCAL)
        check_int("RRUnit", "bits", bits, minimum=1, maximum=MAX_RR_BITS)
        check_bool("RRUnit", "irregular", irregular)

    def __init__(self, *, local=8, bits=4, irregular=False, spram=None):
        self._local, self._bits = local, bits
        self._program = rr_program(local=local, bits=bits, irregular=irregular)
        self._spram = spram
        width = (4 if irregular else 3) * bits
        self.codes_layout = data.StructLayout({"index": unsigned(32), "codes": unsigned(width), "end": 1})
        super().__init__({
            "peaks": In(stream.Signature(PEAK_LAYOUT)),
            "codes": Out(stream.Signature(self.codes_layout)),
        })

    @property
    def program(self):
        """The assembled program (hw/qrs_program.py) the sequencer runs."""
        return self._program

    @property
    def latency(self):
        """Peaks: a peak's codes leave after the next peak (or the end marker) has arrived."""
        return 1

    def elaborate(self, platform):
        m = Module()
        m.submodules.seq = seq = QrsSequencer(self._program, spram=self._spram)
        m.d.comb += [
            seq.peaks.valid.eq(self.peaks.valid),
            seq.peaks.payload.data.eq(self.peaks.payload.index),
            seq.peaks.payload.last.eq(self.peaks.payload.end),
            self.peaks.ready.eq(seq.peaks.ready),
            self.codes.valid.eq(seq.codes.valid),
            self.codes.payload.index.eq(seq.codes.payload.value),
            self.codes.payload.codes.eq(seq.codes.payload.codes),
            self.codes.payload.end.eq(seq.codes.payload.end),
            seq.codes.ready.eq(self.codes.ready),
        ]
        return m
