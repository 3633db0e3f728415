"""RR-interval codes of the beats of a :class:`ternecg.golden.beats.Beats` set, as torch tensors,
and their thermometer expansion for training. The arithmetic (docs/arithmetic.md section 6) is in
:mod:`ternecg.golden.spec.rr`.
"""

from __future__ import annotations

import numpy as np
import torch

from ternecg.errors import TernEcgError

from .spec.rr import BITS, FEATURES, LOCAL, irregular_codes, record_codes, template_codes  # noqa: F401


def rr_codes(beats, local=LOCAL, bits=BITS) -> torch.Tensor:
    """(N, 3) int64 codes of :data:`FEATURES` for ``beats`` (records in any order, peaks sorted within)."""
    codes = np.zeros((len(beats), len(FEATURES)), dtype=np.int64)
    for rec in np.unique(beats.record):
        idx = np.flatnonzero(beats.record == rec)
        s = beats.sample[idx]
        if len(s) < 2:
            raise TernEcgError(f"record {rec}: RR codes need at least 2 beats, got {len(s)}")
        if np.any(np.diff(s) <= 0):
            raise TernEcgError(f"record {rec}: R-peak samples must increase; sort the beats by sample")
        codes[idx] = record_codes(s, local, bits)
    return torch.from_numpy(codes)


def model_codes(beats, cfg) -> torch.Tensor:
    """The RR codes a model with config ``cfg`` (its ``rr_bits`` and ``rr_local``) reads: the three
    interval codes, then, with ``rr_template``, the template code of each beat's raw window
    (``beats.raw``) against its record's running template over the record's beats in order, then,
    with ``rr_irregular``, the irregularity code (golden/spec/rr.py, as golden/monitor.py
    ``codes``)."""
    if not cfg.rr_bits:
        raise TernEcgError(f"config {cfg.name!r} has no RR path (no 'rr_bits')")
    codes = rr_codes(beats, local=cfg.rr_local, bits=cfg.rr_bits)
    cols = [codes]
    if cfg.rr_template:
        tmpl = np.zeros(len(beats), dtype=np.int64)
        for rec in np.unique(beats.record):
            idx = np.flatnonzero(beats.record == rec)
            tmpl[idx] = template_codes(np.asarray(beats.raw)[idx], cfg.rr_bits, cfg.rr_template_gate)
        cols.append(torch.from_numpy(tmpl)[:, None])
    if cfg.rr_irregular:
        irr = np.zeros(len(beats), dtype=np.int64)
        for rec in np.unique(beats.record):
            idx = np.flatnonzero(beats.record == rec)
            irr[idx] = irregular_codes(beats.sample[idx], cfg.rr_local, cfg.rr_bits)
        cols.append(torch.from_numpy(irr)[:, None])
    return torch.cat(cols, 1) if len(cols) > 1 else codes


def thermometer(codes, bits=BITS) -> torch.Tensor:
    """(N, F) codes -> (N, F * (2^bits - 1)) float bits: bit j of feature f is ``code_f > j``."""
    levels = torch.arange(1, 1 << bits)
    return (torch.as_tensor(codes).unsqueeze(-1) >= levels).flatten(1).float()


def rr_inputs(beats, x, bits=BITS, local=LOCAL) -> torch.Tensor:
    """Training rows of an RR model: the normalised beats ``x`` (N, L), then the thermometer bits
    of their codes (what :class:`ternecg.golden.model.Net` with ``rr_bits`` reads)."""
    return torch.cat([torch.as_tensor(x).float(), thermometer(rr_codes(beats, local=local, bits=bits), bits)], 1)
