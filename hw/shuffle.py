"""Channel shuffle as a zero-cost address remapper.

The golden shuffle (``integer_ref.shuffle``) sends output channel ``oc = i*(C/g) + j`` (group i,
j-th channel of the group) to position ``j*g + i``. The hardware never moves data for it: the
engine writes output channel ``oc`` straight to the feature-map address of its shuffled position.
Because the P lanes of a pass compute consecutive channels ``j0 .. j0+P-1`` of one group, their
shuffled positions are ``(j0+l)*g + i``: an arithmetic progression with stride g. So the whole
shuffle folds into two per-pass constants of the schedule, the first lane's output base address
and the address stride between lanes (``g * L`` with shuffle, ``L`` without). The address logic
is identical with and without shuffle; only schedule ROM contents differ.
"""


def slot(oc, channels, groups, shuffled):
    """Feature-map channel position of output channel ``oc`` (after the shuffle, if any)."""
    if not shuffled:
        return oc
    cg = channels // groups
    return (oc % cg) * groups + oc // cg


def lane_addresses(oc0, lanes, channels, groups, shuffled, length):
    """(base address of lane 0, address stride between lanes) for lanes computing oc0 .. oc0+lanes-1.

    All lanes must lie in one group (the schedule guarantees it)."""
    base = slot(oc0, channels, groups, shuffled) * length
    stride = (groups if shuffled else 1) * length
    for l in range(lanes):
        assert slot(oc0 + l, channels, groups, shuffled) * length == base + l * stride
    return base, stride
