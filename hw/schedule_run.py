"""A compiled schedule run in Python, as the engine runs it: the compiler's executable check.

:func:`tiles` walks a phase's counters (what hw/sequencer.py holds in registers); :func:`run`
executes one beat tile by tile through the skewed feature memories, the weight ROM words and the
per-stream threshold tables exactly as the hardware addresses them, and returns every layer's
map (in golden's flattened order), the select bits and the logits: the tests compare them with
:func:`ternecg.golden.integer_ref.forward`. :func:`memory_conflicts` lists every cycle in which
two streams ask one memory for two different words (there must be none).
"""

from __future__ import annotations

from dataclasses import dataclass

from .schedule import MODE_DW, MODE_FINAL, MODE_GRP, Geometry, Phase, Schedule

__all__ = ["Tile", "tiles", "run", "memory_conflicts", "location", "reads"]


@dataclass(frozen=True)
class Tile:
    """The counters of one tile (stream 0, lane 0, tap (0, 0))."""
    gi: int
    b: int
    tau: int
    kx: int
    in_slot: int
    pos0: int
    w_start: int
    out_slot: int
    t0: int
    act: int
    sel: int
    first_of_block: bool
    last_of_block: bool


def tiles(ph: Phase, w_start=0, act=0):
    """Every tile of ``ph`` in issue order (skipped blocks included)."""
    for gi in range(ph.n_groups):
        kx = gi if ph.multi_kernel else 0
        rows = ph.cin_g * ph.taps[kx]
        for b in range(ph.n_blocks):
            for tau in range(ph.n_tiles):
                yield Tile(gi=gi, b=b, tau=tau, kx=kx,
                           in_slot=gi * ph.in_group_step + b * ph.in_block_step,
                           pos0=tau * ph.pos_tile_step - ph.pads[kx], w_start=w_start,
                           out_slot=gi * ph.out_group_step + b * ph.out_block_step,
                           t0=tau * ph.t_tile_step, act=act,
                           sel=gi * ph.sel_group_step + b * ph.sel_block_step,
                           first_of_block=tau == 0, last_of_block=tau == ph.n_tiles - 1)
            w_start += rows
            act += ph.act_block_step if ph.mode != MODE_FINAL else 0


def location(geo: Geometry, lq, slot, pos):
    """(memory, word) of value (slot, pos) of a map with rows of ``lq`` words."""
    M = geo.mems
    return (slot + pos) % M, slot * lq + pos // M


def _outputs(ph: Phase, geo: Geometry, tile: Tile):
    """[(r, l, slot, t, valid)] of a tile in serializer order (lane by lane; the logits pass: every
    stream's lanes in class order)."""
    R, L = geo.streams, geo.lanes
    out = []
    for r in range(R):
        for l in range(L):
            s = tile.out_slot + ph.stream_slot_out[r] + l * ph.lane_slot_step
            t = tile.t0 + ph.stream_t[r] + l * ph.lane_t_step
            out.append((r, l, s, t, l < ph.valid_lanes[tile.b][r] and t < ph.lout))
    return out


def reads(ph: Phase, tile: Tile, r):
    """Whether stream r reads in this tile: in a depthwise (CHAN) tile the streams beyond the
    block's channels read nothing (their slots lie outside the map)."""
    return ph.valid_lanes[tile.b][r] > 0


def _act(value, thresholds):
    return sum(1 for v in thresholds if value >= v)


def run(sch: Schedule, x0, *, check=True):
    """One beat (``x0``: the normalised input, ``input_length`` ints) through the schedule.

    Returns ``{"layers": {layer: [value per logical address]}, "select": {layer: [bits]},
    "logits": [...]}``. With ``check``, every cycle's accesses are checked for memory conflicts
    (AssertionError)."""
    geo = sch.geometry
    R, L, M = geo.streams, geo.lanes, geo.mems
    banks = [[dict() for _ in range(M)] for _ in range(3)]
    lq0 = sch.bank_words[0]
    for n, v in enumerate(x0):
        mem, word = location(geo, lq0, 0, n)
        banks[0][mem][word] = int(v)
    layers, selects, logits = {}, {}, []
    w_start = act = 0
    q_max = (1 << sch.act_bits) - 1
    for ph in sch.phases:
        sel_bits = selects.setdefault(ph.layer, [0] * max(ph.cout, 1)) if ph.mode in (MODE_DW, MODE_GRP) else None
        gap = [0] * R
        rows_total = 0
        for tile in tiles(ph, w_start, act):
            rows = ph.cin_g * ph.taps[tile.kx]
            if ph.mode == MODE_GRP and tile.first_of_block:
                skip = all(sel_bits[tile.sel + ph.stream_sel[r] + l] for r in range(R)
                           for l in range(ph.valid_lanes[tile.b][r]))
            elif ph.mode != MODE_GRP:
                skip = False
            if tile.tau == 0:
                rows_total += rows
            if skip:
                continue
            acc = [[0] * L for _ in range(R)]
            for c in range(ph.cin_g):
                for j in range(ph.taps[tile.kx]):
                    word_w = sch.weights[tile.w_start + c * ph.taps[tile.kx] + j]
                    asked = {}
                    for r in range(R):
                        s = tile.in_slot + ph.stream_slot_in[r] + c
                        pos = tile.pos0 + ph.stream_pos[r] + j
                        if 0 <= pos < ph.lin and reads(ph, tile, r):
                            mem, word = location(geo, ph.lq_in, s, pos)
                            if check:
                                assert asked.setdefault(mem, word) == word, (
                                    f"read conflict: phase of layer {ph.layer}, tile {tile}, memory {mem}")
                            x = banks[ph.in_bank][mem][word]
                        else:
                            x = 0
                        for l in range(L):
                            code = (word_w >> (2 * (r * L + l))) & 3
                            acc[r][l] += x if code == 1 else -x if code == 3 else 0
            outs = _outputs(ph, geo, tile)
            if ph.mode == MODE_FINAL:
                for r, l, s, t, ok in outs:
                    if ok:
                        logits.append(acc[r][l] + sch.bias[len(logits)])
                continue
            for l in range(L):
                asked = {}
                for r in range(R):
                    rr, ll, s, t, ok = outs[r * L + l]
                    if not ok:
                        continue
                    a = tile.act + l * ph.lane_act_step
                    q = _act(acc[r][l], sch.stream_thresholds[r][a])
                    mem, word = location(geo, ph.lq_out, s, t)
                    if check:
                        assert asked.setdefault(mem, word) == word, (
                            f"write conflict: phase of layer {ph.layer}, tile {tile}, memory {mem}")
                    if ph.mode == MODE_GRP:
                        if sel_bits[tile.sel + ph.stream_sel[r] + l]:
                            continue
                        q = (banks[ph.out_bank][mem][word] + q) >> 1
                    elif ph.mode == MODE_DW:
                        gap[0 if ph.gap_shared else r] += q
                    banks[ph.out_bank][mem][word] = q
                    layers.setdefault(ph.layer, {})[s * ph.lout + t] = q
            if ph.mode == MODE_DW and tile.last_of_block:
                # a KIND_DWPOS block: every stream computed the one channel, whose bit stream 0 sets
                for r in range(1 if ph.gap_shared else R):
                    if ph.valid_lanes[tile.b][r]:
                        sel_bits[tile.sel + ph.stream_sel[r]] = int(2 * gap[r] > q_max * ph.length)
                gap = [0] * R
        w_start += rows_total
        if ph.mode != MODE_FINAL:
            act += ph.blocks * ph.act_block_step
    maps = {li: [d[a] for a in range(len(d))] for li, d in layers.items()}
    return {"layers": maps, "select": selects, "logits": logits}


def memory_conflicts(sch: Schedule, limit=10):
    """Cycles in which two streams ask one memory of a bank for two different words (reads of a
    tap; writes and MUX-skip reads of a serializer step), as messages; none for a valid schedule."""
    geo = sch.geometry
    R = geo.streams
    out = []
    if R == 1:
        return out
    for ph in sch.phases:
        for tile in tiles(ph):
            for c in range(ph.cin_g):
                for j in range(ph.taps[tile.kx]):
                    asked = {}
                    for r in range(R):
                        pos = tile.pos0 + ph.stream_pos[r] + j
                        if 0 <= pos < ph.lin and reads(ph, tile, r):
                            mem, word = location(geo, ph.lq_in, tile.in_slot + ph.stream_slot_in[r] + c, pos)
                            if asked.setdefault(mem, word) != word:
                                out.append(f"layer {ph.layer} tile {tile.gi},{tile.b},{tile.tau} read memory {mem}")
            if ph.mode == MODE_FINAL:
                continue
            outs = _outputs(ph, geo, tile)
            for l in range(geo.lanes):
                asked = {}
                for r in range(R):
                    _, _, s, t, ok = outs[r * geo.lanes + l]
                    if ok:
                        mem, word = location(geo, ph.lq_out, s, t)
                        if asked.setdefault(mem, word) != word:
                            out.append(f"layer {ph.layer} tile {tile.gi},{tile.b},{tile.tau} write memory {mem}")
            if len(out) >= limit:
                return out
    return out
