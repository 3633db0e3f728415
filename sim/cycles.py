"""Analytical engine cycles of real beats: the integer reference's MUX selects through the schedule."""

from __future__ import annotations

import torch

from ternecg.errors import TernEcgError
from ternecg.golden import fixture, integer_ref


def fixture_cycles(acc, model):
    """Engine cycles of every fixture beat through ``acc`` (an :class:`ternecg.hw.top.Accelerator`
    of ``model``; MUX-skip passes skipped where selected): ``{beats, min, max, mean}`` or None
    without the fixture."""
    try:
        fx = fixture.load()
    except TernEcgError:
        return None
    # the MUX selects (hence the cycles) do not depend on the RR codes; forward needs some
    rr = torch.zeros(len(fx["raw"]), model.cfg.rr_features, dtype=torch.int64) if model.cfg.rr_bits else None
    tr = integer_ref.forward(model, torch.as_tensor(fx["raw"].astype("int64")), rr)
    counts = [acc.engine_cycles({li: v["select"][b].tolist() for li, v in tr.mux.items()})
              for b in range(len(fx["raw"]))]
    return {"beats": len(counts), "min": min(counts), "max": max(counts),
            "mean": round(sum(counts) / len(counts), 1)}
