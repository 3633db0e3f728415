"""Widths and layouts of the conv engine's parts, derived from a compiled schedule.

The engine (hw/engine.py) and its parts (hw/sequencer.py, issue_stage.py, lanes.py,
serializer.py, write_back.py) size their registers from the same :class:`Schedule`; these
functions are that one definition. The phase descriptor layout holds every field of
:data:`~ternecg.hw.schedule.PHASE_FIELDS` at its widest value over the phases, the address
steps at the full bank address width (so the engine's logic is the same whatever their values:
with or without channel shuffle only the phase table's contents differ), and per kernel of a
multi-kernel phase its size, padding and weight rows.
"""

from __future__ import annotations

from amaranth.hdl import unsigned
from amaranth.lib import data

from .schedule import PHASE_FIELDS, Schedule

__all__ = ["bits", "check_schedule", "kernel_slots", "phase_layout", "phase_descriptors",
           "addr_width", "rows_width", "logit_width", "lane_width"]


def bits(n):
    """Bits of the unsigned integer ``n`` (at least 1)."""
    return max(1, int(n).bit_length())


def check_schedule(owner, schedule):
    """TypeError / ValueError unless ``schedule`` is a compiled, non-empty Schedule."""
    if not isinstance(schedule, Schedule):
        raise TypeError(f"{owner} needs a compiled Schedule (hw.schedule.compile_schedule), "
                        f"not {type(schedule).__name__}")
    if not schedule.passes or not schedule.phases:
        raise ValueError(f"{owner} needs a non-empty Schedule (no passes)")


def kernel_slots(s: Schedule):
    """Kernels per phase descriptor (the most of any multi-kernel phase)."""
    return max(len(ph.kernels) for ph in s.phases)


def addr_width(s: Schedule):
    """Width of a feature-bank address (the deepest bank)."""
    return bits(max(s.bank_depth) - 1)


def rows_width(s: Schedule):
    """Width of a pass's weight-row count (``cin_g * k``)."""
    return bits(max(ph.cin_g * k for ph in s.phases for k in ph.kernels))


def lane_width(s: Schedule):
    """Width of a lane index (0 for one lane: no lane logic at all)."""
    return (s.parallel - 1).bit_length()


def logit_width(s: Schedule):
    """Width of the signed logits: the accumulator or the widest bias, plus one bit for the sum."""
    return max(s.acc_width, bits(max(abs(v) for v in s.bias or [0])) + 1) + 1


def phase_layout(s: Schedule) -> data.StructLayout:
    widths = s.field_widths()
    kg = kernel_slots(s)
    fields = {k: unsigned(bits(max(getattr(ph, k) for ph in s.phases))) for k in PHASE_FIELDS}
    for k in ("in_pass_step", "in_group_step", "out_pass_step", "out_group_step", "out_stride"):
        fields[k] = unsigned(bits(max(s.bank_depth)))
    fields["kernels"] = data.ArrayLayout(unsigned(widths["k"]), kg)
    fields["pads"] = data.ArrayLayout(unsigned(widths["pad"]), kg)
    fields["rows"] = data.ArrayLayout(unsigned(rows_width(s)), kg)
    return data.StructLayout(fields)


def phase_descriptors(s: Schedule) -> list:
    """The phase table's contents: one descriptor (a dict of :func:`phase_layout`) per phase."""
    kg = kernel_slots(s)

    def pad(v):
        return list(v) + [0] * (kg - len(v))
    out = []
    for ph in s.phases:
        d = {k: getattr(ph, k) for k in PHASE_FIELDS}
        d.update(kernels=pad(ph.kernels), pads=pad(ph.pads), rows=pad([ph.cin_g * k for k in ph.kernels]))
        out.append(d)
    return out
