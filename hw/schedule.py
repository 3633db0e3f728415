"""Compile a model file into the engine's schedule: geometry, phases, tiles, ROM images, cycles.

The accelerator is one time-multiplexed ternary conv engine with ``parallel`` (P) add/sub lanes,
organised as ``streams`` (R) x ``lanes`` (L). A *stream* reads one input value per cycle (its own
feature-bank read) and its L lanes share it, each adding, subtracting or skipping it by its own
2-bit weight code. A *tile* is the work of all P lanes from their first to their last tap: every
stream computes L outputs, each over ``cin_g * taps`` cycles (one input value per cycle). Tiles
follow each other without a gap: each result carries its context (bank address, activation
channel, select bit) through the pipeline, so only a change of *phase* (a conv layer, or one
branch of a MUX-skip block: the next phase reads what this one writes) waits for the pipeline to
drain.

How the streams and lanes of a phase cover its outputs is its *kind*:

``KIND_POS``  lanes on L channels of one group; the streams on ``stream_blocks`` blocks of L
              channels times ``R / stream_blocks`` consecutive output positions (every stream
              reads the same input channel, at its own position; streams at the same position
              share the read): conv layers; with all streams on blocks, dense layers and logits.
``KIND_CHAN`` streams on R channels, lanes on L consecutive positions of the stream's channel
              (a polyphase kernel: lane l applies the kernel shifted by ``stride * l`` taps, so
              the lanes of a stream still share every read): depthwise branches. With
              ``stream_blocks`` k = 1 a block holds channels of one shuffle group (R - cg
              streams idle when R exceeds its cg channels); with k >= 2 a block holds k whole
              groups (k * cg <= R), so a branch takes ceil(groups / k) blocks instead of one
              per group.
``KIND_DWPOS`` a depthwise branch with every stream on positions of one channel (a block is one
              channel; stream r on positions ``r L .. r L + L - 1`` of the tile, polyphase lanes):
              the streams' results are that channel's GAP, which the MUX-skip unit sums
              (``gap_shared``). Used only where the plan misses the target otherwise.

A conv is one phase, or, where the geometry's plan misses the bound ratio target otherwise, two *segments*
of its output positions, each a phase of its own kind (``Phase.t_begin``: the streams' position
offsets carry the segment's first position): the first with many streams on positions over the
positions that fill whole tiles, the rest with the streams on channels (at 7 x 1 lanes a group of
6 channels x 30 positions: 6 x 4 tiles of 7 positions, then 2 tiles of 6 channels, 26 tiles
instead of 30). The two segments read the same map and write different positions of the next.

Feature maps live in three banks: 0 = the normalised input (signed 8-bit), 1 and 2 = ping-pong
activation banks (unsigned ``act_bits``). A bank is ``mems`` (M, a power of two) memories, so
that the R streams read (and write) R values per cycle: value ``(slot, pos)`` of a map (``slot``:
the channel's place after the channel shuffle, ``pos``: the position) lives in memory
``(slot + pos) mod M`` at word ``slot * ceil(L_map / M) + pos // M`` (a skewed layout: R streams
at positions ``stride`` apart, or on consecutive channels, hit R different memories). With one
stream M is 1 and a map is stored as ``slot * L_map + pos``, the logical address.

:func:`compile_schedule` chooses the geometry (fewest streams that reach the bound ratio target,
:func:`ratio_target`; a narrower lane count's where every geometry misses it and that is faster:
:func:`ternecg.hw.schedule_search.choose_geometry`),
each conv's kind or segments, and M; it checks every cycle's reads and writes for
memory conflicts (:mod:`ternecg.hw.schedule_run`). :func:`cycles` is the exact cycle count of a
beat, which the tests measure in simulation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


from ternecg.errors import TernEcgError
from ternecg.golden.spec.config import MuxSpec
from ternecg.golden.spec.modelfile import IntModel

from .params import model_id
from .shuffle import slot

MODE_PLAIN, MODE_DW, MODE_GRP, MODE_FINAL = 0, 1, 2, 3
KIND_POS, KIND_CHAN, KIND_DWPOS = 0, 1, 2
KIND_NAMES = {KIND_POS: "pos", KIND_CHAN: "chan", KIND_DWPOS: "dwpos"}

#: widest setting the generator builds (lanes in total)
MAX_PARALLEL = 64
#: most memories per feature bank (M)
MAX_MEMS = 64
#: from this many lanes on, the issue stage registers its read requests (``Geometry.read_stages``
#: 2): the path from the sequencer's counters through the address adders and the banks' crossbar
#: into the LUT RAMs was the ECP5's critical path at P = 48. It costs one cycle per phase, so the
#: narrower settings (the UP5K's 1..6, and up to 17, whose bound ratio target is 1.10) keep one stage
STAGED_READ_PARALLEL = 18

#: the compiler takes the fewest streams whose bound ratio (cycles per beat against MACs / P)
#: reaches this target (P <= 18: 1.10, wider: 1.25), else the fastest geometry
def ratio_target(parallel):
    return 1.10 if parallel <= 18 else 1.25


# Engine timing (hw/engine.py, measured in simulation and asserted equal by the tests): a phase
# costs PHASE_START cycles (the sequencer's START cycle), then ``cin_g * taps`` cycles per tile
# (one tap per cycle, the tiles back to back), one cycle per skipped MUX-skip block (SKIP_BLOCK,
# in place of the block's first tap), then the drain (:func:`drain`): from the last tap to the
# next phase's START. Blocks skipped after the phase's last executed tile overlap the drain.
PHASE_START = 1
SKIP_BLOCK = 1
END_ADJUST = 0


@dataclass(frozen=True)
class Geometry:
    """``parallel`` = ``streams`` x ``lanes``; ``mems`` memories per feature bank; ``read_stages``:
    cycles from a tap leaving the sequencer to its read data (hw/issue_stage.py), 1, or 2 where
    the issue stage registers the read requests before the banks' crossbar
    (:data:`STAGED_READ_PARALLEL`)."""
    parallel: int
    streams: int
    lanes: int
    mems: int
    read_stages: int = 1

    @property
    def mem_bits(self):
        return (self.mems - 1).bit_length()


@dataclass(frozen=True)
class Phase:
    """One conv layer or MUX-skip branch: its loops and the address steps of its counters.

    Loops: group ``gi`` < ``n_groups``, block ``b`` < ``n_blocks``, tile ``tau`` < ``n_tiles``;
    in a tile, input channel ``c`` < ``cin_g`` and tap ``j`` < ``taps[kx]`` (``kx`` = ``gi`` when
    ``multi_kernel``, else 0). The tile's bases are ``in_slot = gi * in_group_step + b *
    in_block_step``, ``pos0 = tau * pos_tile_step - pads[kx]``, ``out_slot = gi * out_group_step
    + b * out_block_step``, ``t0 = tau * t_tile_step``, ``sel = gi * sel_group_step + b *
    sel_block_step``. Per stream ``r``, lane ``l``, tap ``(c, j)``:

    - read slot ``in_slot + stream_slot_in[r] + c``, position ``pos0 + stream_pos[r] + j`` (zero
      outside ``0 <= pos < lin``, and for a stream without a channel in the block);
    - write slot ``out_slot + stream_slot_out[r] + l * lane_slot_step``, position ``t0 +
      stream_t[r] + l * lane_t_step`` when that position is ``< lout`` and the lane is valid
      (``lane < valid_lanes[b][r]``);
    - weight row ``w_start + c * taps + j`` (``w_start`` advances by ``cin_g * taps`` per block),
      lane ``(r, l)`` takes bits ``2 (r L + l) ..`` of the row;
    - activation index ``act + l * lane_act_step`` in stream r's threshold table (``act``
      advances by ``act_block_step`` per block);
    - select bit (MUX-skip) ``sel + stream_sel[r] + l * lane_act_step``: a depthwise block writes
      its streams' bits at the end of the block; a grouped block reads its lanes' bits and is
      skipped when every valid one is set.

    ``KIND_POS``: stream r works on block ``r // rt`` of the block group and position ``r % rt``
    of the tile (``rt = R / stream_blocks``); ``KIND_CHAN``: on channel ``r`` of the block, the
    lanes on L consecutive positions (polyphase).
    """
    mode: int
    kind: int
    layer: int
    in_bank: int
    out_bank: int
    lin: int
    lout: int
    stride: int
    cin_g: int
    taps: tuple
    pads: tuple
    multi_kernel: int
    n_groups: int
    n_blocks: int
    n_tiles: int
    lq_in: int
    lq_out: int
    in_group_step: int
    in_block_step: int
    pos_tile_step: int
    t_tile_step: int
    out_group_step: int
    out_block_step: int
    lane_slot_step: int
    lane_t_step: int
    act_block_step: int
    lane_act_step: int
    sel_block_step: int
    sel_group_step: int
    stream_blocks: int
    stream_slot_in: tuple
    stream_pos: tuple
    stream_slot_out: tuple
    stream_t: tuple
    stream_sel: tuple
    valid_lanes: tuple          # per block b, per stream r: lanes with an output channel
    length: int                 # true output length (the MUX-skip GAP divisor)
    cout: int                   # output channels of the phase (slots of the output map)
    macs: int = 0               # the phase's ternary multiply-accumulates per beat (reports only)
    t_begin: int = 0            # first output position of a segment (a conv split by position)
    gap_shared: int = 0         # KIND_DWPOS depthwise: the streams' results are one channel's GAP

    def tile_taps(self, gi):
        return self.cin_g * self.taps[gi if self.multi_kernel else 0]

    @property
    def blocks(self):
        return self.n_groups * self.n_blocks

    def block_cycles(self, gi):
        return self.n_tiles * self.tile_taps(gi)

    def block_outputs(self, b):
        """Valid (stream, lane) pairs of block b, ignoring positions."""
        return sum(self.valid_lanes[b])


@dataclass
class Schedule:
    geometry: Geometry
    act_bits: int
    phases: list = field(default_factory=list)
    weights: list = field(default_factory=list)        # ROM words: 2 bits per lane, lane (r, l) at 2 (r L + l)
    stream_thresholds: list = field(default_factory=list)   # per stream: per activation index, 2^b - 1 ints
    bias: list = field(default_factory=list)           # logits layer
    model_id: int = 0
    bank_words: list = field(default_factory=lambda: [0, 0, 0])   # words per memory of each bank
    map_words: list = field(default_factory=lambda: [0, 0, 0])    # logical words (channels x length)
    acc_width: int = 2
    input_length: int = 0
    n_classes: int = 0
    mux_channels: int = 0
    macs: int = 0
    asked: int = 0          # the lanes asked for (0: as built); see hw/schedule_search.py

    @property
    def parallel(self):
        """The lanes built (``streams * lanes``)."""
        return self.geometry.parallel

    @property
    def lanes_asked(self):
        """The lane count the schedule was compiled for: :attr:`parallel`, or more where the
        compiler built a narrower lane count's geometry (hw/schedule_search.py ``choose_geometry``). The bound (MACs /
        P) and the bound ratio of the reports are against it: idle lanes count as lost cycles."""
        return self.asked or self.geometry.parallel

    @property
    def streams(self):
        return self.geometry.streams

    @property
    def lanes(self):
        return self.geometry.lanes

    @property
    def mems(self):
        return self.geometry.mems

    @property
    def adders(self):
        return self.geometry.parallel

    @property
    def thresholds(self):
        """Stream 0's threshold table (every stream's has as many rows)."""
        return self.stream_thresholds[0] if self.stream_thresholds else []

    @property
    def act_channels(self):
        """Activation indices (rows of each stream's threshold table)."""
        return len(self.thresholds)

    @property
    def bank_depth(self):
        """Values of each bank's largest map (channels x length; bank 0: one beat)."""
        return list(self.map_words)

    @property
    def passes(self):
        """``(phase, group, block)`` of every block: what a pass was before tiles (P output
        channels of one group over all positions)."""
        return [(i, gi, b) for i, ph in enumerate(self.phases) for gi in range(ph.n_groups)
                for b in range(ph.n_blocks)]

    @property
    def min_tile_taps(self):
        return min(ph.tile_taps(gi) for ph in self.phases for gi in range(ph.n_groups))


# ---- the compiler -----------------------------------------------------------------------------

def check_parallel(model: IntModel, parallel):
    if (not isinstance(parallel, int) or isinstance(parallel, bool)
            or not 1 <= parallel <= MAX_PARALLEL):
        raise TernEcgError(f"parallel = {parallel!r} must be an integer in 1..{MAX_PARALLEL}")


def valid_parallel(model: IntModel):
    """Every lane count the generator builds for this model (all of 1..MAX_PARALLEL)."""
    return list(range(1, MAX_PARALLEL + 1))


def _convs(model):
    """(layer index, mode, IntConv, output shuffle groups or 0) of every conv in order."""
    for li, layer in enumerate(model.layers):
        if isinstance(layer.spec, MuxSpec):
            g = layer.spec.grp.groups if layer.spec.shuffle else 0
            yield li, MODE_DW, layer.dw, g
            yield li, MODE_GRP, layer.grp, g
        elif layer.spec.final:
            yield li, MODE_FINAL, layer, 0
        else:
            yield li, MODE_PLAIN, layer, (layer.spec.groups if layer.spec.shuffle else 0)


def _slot(oc, cout, g):
    return slot(oc, cout, g, True) if g else oc


def _phase(mode, kind, li, conv, g_shuffle, in_bank, out_bank, geo, lq_in, lq_out, seg=None):
    """The Phase of one conv; ``kind`` is ``(KIND_POS, stream_blocks)``, ``(KIND_CHAN, k)`` or
    ``(KIND_DWPOS, 1)``;
    ``seg = (t_begin, t_end)``: a KIND_POS phase of output positions ``t_begin .. t_end - 1`` only
    (its tiles start at ``t_begin``: the streams' position offsets carry it), else all of them."""
    s = conv.spec
    t_begin, t_end = seg if seg is not None else (0, s.lout)
    assert kind[0] == KIND_POS or (t_begin, t_end) == (0, s.lout)
    R, L = geo.streams, geo.lanes
    kind, rb = kind
    pads = tuple(k // 2 if s.pad == "same" else 0 for k in s.kernels)
    multi = int(len(set(s.kernels)) > 1)
    lane_slot = g_shuffle if g_shuffle else 1          # slot step between consecutive channels of a group
    cout_g = s.cout_g
    if kind == KIND_POS:
        rt = R // rb
        n_blocks = -(-cout_g // (L * rb))
        kernels = s.kernels if multi else s.kernels[:1]
        valid = tuple(tuple(max(0, min(L, cout_g - (b * rb + r // rt) * L)) for r in range(R))
                      for b in range(n_blocks))
        if s.groups > 1:
            # group gi's first output channel gi*cout_g sits at slot gi (shuffled) or gi*cout_g
            assert _slot(cout_g, s.cout, g_shuffle) == (1 if g_shuffle else cout_g)
        ph = dict(n_groups=s.groups, n_blocks=n_blocks, n_tiles=-(-(t_end - t_begin) // rt), cin_g=s.cin_g,
                  taps=tuple(kernels), pads=tuple(pads if multi else pads[:1]),
                  in_group_step=s.cin_g, in_block_step=0, pos_tile_step=s.stride * rt, t_tile_step=rt,
                  out_group_step=(1 if g_shuffle else cout_g) if s.groups > 1 else 0,
                  out_block_step=rb * L * lane_slot, lane_slot_step=lane_slot, lane_t_step=0,
                  act_block_step=L, lane_act_step=1,
                  sel_block_step=rb * L if mode == MODE_GRP else 0,
                  sel_group_step=cout_g if mode == MODE_GRP else 0, stream_blocks=rb,
                  stream_slot_in=(0,) * R, stream_pos=tuple(s.stride * (r % rt + t_begin) for r in range(R)),
                  stream_slot_out=tuple((r // rt) * L * lane_slot for r in range(R)),
                  stream_t=tuple(r % rt + t_begin for r in range(R)),
                  stream_sel=tuple((r // rt) * L if mode == MODE_GRP else 0 for r in range(R)),
                  valid_lanes=valid)
    elif kind == KIND_DWPOS:    # depthwise, one channel per block, streams x lanes on positions
        assert s.cin_g == 1 and s.cout_g == 1 and len(set(s.kernels)) == 1
        k = s.kernels[0]
        C = s.cout
        cg = C // g_shuffle if g_shuffle else C
        n_groups = g_shuffle if g_shuffle else 1
        # block b of group gi is channel gi * cg + b (input slot, select index), written at its
        # shuffled slot b * g + gi; stream r computes positions t0 + r L + l (polyphase lanes), so
        # a tile is R L positions of one channel and the streams' GAP sums are one channel's
        ph = dict(n_groups=n_groups, n_blocks=cg, n_tiles=-(-s.lout // (R * L)), cin_g=1,
                  taps=(s.stride * (L - 1) + k,), pads=(pads[0],),
                  in_group_step=cg, in_block_step=1, pos_tile_step=s.stride * R * L,
                  t_tile_step=R * L, out_group_step=1 if g_shuffle else 0, out_block_step=lane_slot,
                  lane_slot_step=0, lane_t_step=1, act_block_step=1, lane_act_step=0,
                  sel_block_step=1 if mode == MODE_DW else 0,
                  sel_group_step=cg if mode == MODE_DW else 0, stream_blocks=1,
                  stream_slot_in=(0,) * R, stream_pos=tuple(s.stride * L * r for r in range(R)),
                  stream_slot_out=(0,) * R, stream_t=tuple(L * r for r in range(R)),
                  stream_sel=(0,) * R, gap_shared=int(mode == MODE_DW),
                  valid_lanes=tuple((L,) * R for _ in range(cg)))
    elif rb > 1:    # KIND_CHAN over rb whole shuffle groups per block: one loop group
        assert s.cin_g == 1 and s.cout_g == 1 and len(set(s.kernels)) == 1 and g_shuffle
        k = s.kernels[0]
        C = s.cout
        cg = C // g_shuffle
        width = rb * cg                                 # channels (streams) of a block
        n_blocks = -(-g_shuffle // rb)
        # stream r of block b: channel b * width + r (group b * rb + r // cg, its channel r % cg),
        # whose shuffled output slot is (r % cg) * g_shuffle + b * rb + r // cg; the streams beyond
        # the block's channels never read or write: they get the free offsets modulo M, so that
        # the streams' offsets stay distinct (conflict_free)
        slot_out = [(r % cg) * lane_slot + r // cg for r in range(width)]
        free = [v for v in range(geo.mems) if v not in {o % geo.mems for o in slot_out}]
        slot_out += free[:R - width]
        ph = dict(n_groups=1, n_blocks=n_blocks, n_tiles=-(-s.lout // L), cin_g=1,
                  taps=(s.stride * (L - 1) + k,), pads=(pads[0],),
                  in_group_step=n_blocks * width, in_block_step=width, pos_tile_step=s.stride * L,
                  t_tile_step=L, out_group_step=n_blocks * rb, out_block_step=rb, lane_slot_step=0,
                  lane_t_step=1, act_block_step=1, lane_act_step=0,
                  sel_block_step=width if mode == MODE_DW else 0,
                  sel_group_step=n_blocks * width if mode == MODE_DW else 0, stream_blocks=rb,
                  stream_slot_in=tuple(range(R)), stream_pos=(0,) * R,
                  stream_slot_out=tuple(slot_out),
                  stream_t=(0,) * R,
                  # every stream, idle ones too, sets select bit sel + r at the end of a block (the
                  # write-back does not look at validity): the idle ones' bits are the next block's
                  # channels, set again there, or beyond the map (hw/mux_skip.py)
                  stream_sel=tuple(r if mode == MODE_DW else 0 for r in range(R)),
                  valid_lanes=tuple(tuple(L if r < width and b * width + r < C else 0 for r in range(R))
                                    for b in range(n_blocks)))
    else:   # KIND_CHAN: one channel per stream (cin_g = cout_g = 1), L polyphase positions per lane
        assert s.cin_g == 1 and s.cout_g == 1 and len(set(s.kernels)) == 1
        k = s.kernels[0]
        C = s.cout
        # channels of one shuffle group (slots lane_slot apart) form the blocks of a group
        cg = C // g_shuffle if g_shuffle else C
        n_groups = g_shuffle if g_shuffle else 1
        n_blocks = -(-cg // R)
        ph = dict(n_groups=n_groups, n_blocks=n_blocks, n_tiles=-(-s.lout // L), cin_g=1,
                  taps=(s.stride * (L - 1) + k,), pads=(pads[0],),
                  in_group_step=cg, in_block_step=R, pos_tile_step=s.stride * L, t_tile_step=L,
                  out_group_step=1 if g_shuffle else 0, out_block_step=R * lane_slot,
                  lane_slot_step=0, lane_t_step=1, act_block_step=1, lane_act_step=0,
                  sel_block_step=R if mode == MODE_DW else 0,
                  sel_group_step=cg if mode == MODE_DW else 0, stream_blocks=1,
                  stream_slot_in=tuple(range(R)), stream_pos=(0,) * R,
                  stream_slot_out=tuple(r * lane_slot for r in range(R)), stream_t=(0,) * R,
                  stream_sel=tuple(r if mode == MODE_DW else 0 for r in range(R)),
                  valid_lanes=tuple(tuple(L if b * R + r < cg else 0 for r in range(R))
                                    for b in range(n_blocks)))
    return Phase(mode=mode, kind=kind, layer=li, in_bank=in_bank, out_bank=out_bank, lin=s.lin,
                 lout=s.lout, stride=s.stride, multi_kernel=multi, lq_in=lq_in, lq_out=lq_out,
                 length=s.lout, cout=s.cout, macs=s.macs * t_end // s.lout - s.macs * t_begin // s.lout,
                 t_begin=t_begin, **ph)


def _contexts(model, M):
    """Per conv, in order: ``(li, mode, conv, g_shuffle, in_bank, out_bank, lq_in, lq_out)`` with M
    memories per bank (the banks and row lengths do not depend on the kinds)."""
    out = []
    in_bank = 0
    lq = -(-model.cfg.input_length // M)
    mux_out_bank = None
    for li, mode, conv, g in _convs(model):
        if mode == MODE_FINAL:
            out_bank = 0
        elif mode == MODE_GRP:
            out_bank = mux_out_bank
        else:
            out_bank = 1 if in_bank != 1 else 2
        lq_out = -(-conv.spec.lout // M)
        out.append((li, mode, conv, g, in_bank, out_bank, lq, lq_out))
        if mode == MODE_DW:
            mux_out_bank = out_bank
        elif mode != MODE_FINAL:
            in_bank, lq = out_bank, lq_out
    return out


def _segments(entry, conv):
    """A conv's plan entry as segments ``((kind, stream_blocks, t_begin, t_end), ...)``: a kind
    ``(kind, stream_blocks)`` is one segment over all output positions."""
    if len(entry) == 2 and isinstance(entry[0], int):
        return ((entry[0], entry[1], 0, conv.spec.lout),)
    return tuple(entry)


def _conv_phases(ctx, geo, entry):
    li, mode, conv, g, in_bank, out_bank, lq_in, lq_out = ctx
    return [_phase(mode, (kind, rb), li, conv, g, in_bank, out_bank, geo, lq_in, lq_out, seg=(t0, t1))
            for kind, rb, t0, t1 in _segments(entry, conv)]


def _plan(model, geo, kinds):
    """The phases for geometry ``geo`` and one plan entry per conv (list in conv order): a kind, or
    segments (:func:`_segments`), one phase each."""
    return [ph for ctx, entry in zip(_contexts(model, geo.mems), kinds)
            for ph in _conv_phases(ctx, geo, entry)]


def serializer_latency(geo: Geometry):
    """Cycles the serializer (hw/serializer.py) adds to an activation tile: 0 with one lane per
    stream (each stream's sum goes straight on), else 1 (the sums are held and handed on lane by
    lane)."""
    return 0 if geo.lanes == 1 else 1


def tile_period(ph: Phase, geo: Geometry, b):
    """Fewest cycles between two tiles' last taps without a stall: the serializer hands a tile's
    L sums (a logits tile: its logits) on one per cycle after taking them, and takes the next
    tile's only when empty; with one lane per stream the sums go straight to the activation
    units (one tile per cycle, or one per ``b + 1`` with the serial unit: chosen only when every tile
    is that long). The compiler keeps every tile at least this long (:func:`stall_free`)."""
    if ph.mode == MODE_FINAL:
        return 1 + max(ph.block_outputs(bb) for bb in range(ph.n_blocks))
    return 1 if serializer_latency(geo) == 0 else 1 + geo.lanes


def stall_free(ph: Phase, geo: Geometry, b):
    """Whether every tile of ``ph`` lasts at least :func:`tile_period` (the cycle model assumes
    no stall inside a phase)."""
    return min(ph.tile_taps(gi) for gi in range(ph.n_groups)) >= tile_period(ph, geo, b)


def drain(ph: Phase, geo: Geometry, act_latency):
    """Cycles from a phase's last tap to the end of the phase. An activation phase: the tap's read
    (1, or 2 with a registered read request: :attr:`Geometry.read_stages`), the serializer (its
    latency, then L lanes one per cycle), the activation units, the MUX-skip stage and the
    sequencer seeing the pipeline empty (2). The logits phase ends with its last logit handed on:
    the read, the serializer, one logit per cycle."""
    staged = geo.read_stages - 1
    if ph.mode == MODE_FINAL:
        return 1 + staged + ph.block_outputs(ph.n_blocks - 1)   # a logit is always held one cycle
    return staged + serializer_latency(geo) + geo.lanes + act_latency + 2


def phase_cycles(ph: Phase, geo: Geometry, act_latency, skipped_blocks=()):
    """Cycles of one phase; ``skipped_blocks``: indices ``gi * n_blocks + b`` of skipped blocks."""
    skipped = set(skipped_blocks)
    run = [gi * ph.n_blocks + b for gi in range(ph.n_groups) for b in range(ph.n_blocks)]
    executed = [i for i in run if i not in skipped]
    if not executed:                    # nothing in flight: the drain is one cycle
        return PHASE_START + SKIP_BLOCK * len(run) + 1
    trailing = len(run) - 1 - executed[-1]
    taps = sum(ph.block_cycles(i // ph.n_blocks) for i in executed)
    return (PHASE_START + taps + SKIP_BLOCK * (len(skipped) - trailing)
            + max(drain(ph, geo, act_latency), SKIP_BLOCK * trailing + 1))


def skipped_blocks(ph: Phase, geo: Geometry, select):
    """Blocks of a grouped MUX-skip phase whose valid lanes all select the depthwise branch."""
    if ph.mode != MODE_GRP or select is None:
        return []
    out = []
    for gi in range(ph.n_groups):
        for b in range(ph.n_blocks):
            sel = gi * ph.sel_group_step + b * ph.sel_block_step
            if all(select[sel + ph.stream_sel[r] + l] for r in range(geo.streams)
                   for l in range(ph.valid_lanes[b][r])):
                out.append(gi * ph.n_blocks + b)
    return out


def cycles(sch: Schedule, act_latency, selects=None):
    """Engine cycles of one beat, from its first busy cycle to the cycle handing the last logit to
    the head, inclusive (what the accelerator reports in ``o.payload.cycles``).

    ``selects``: {layer index: sequence of MUX select bits} of the beat (golden trace);
    ``None`` gives the worst case (no block skipped)."""
    total = END_ADJUST
    for ph in sch.phases:
        sel = None if selects is None else selects.get(ph.layer)
        total += phase_cycles(ph, sch.geometry, act_latency, skipped_blocks(ph, sch.geometry, sel))
    return total


#: a phase's branch name in reports: a plain conv, a MUX-skip block's depthwise or grouped branch,
#: the logits
BRANCH_NAMES = {MODE_PLAIN: "conv", MODE_DW: "dw", MODE_GRP: "grp", MODE_FINAL: "logits"}


def cycles_by_phase(sch: Schedule, act_latency):
    """Where a beat's worst-case cycles go, phase by phase: ``{"layer", "branch", "kind", "t_begin",
    "macs", "bound", "taps", "ends", "cycles"}`` (``t_begin``: the first output position of a conv's
    second segment, else 0). ``bound`` is the phase's MACs over the P lanes (its
    cycles with every lane busy on every cycle); ``taps`` the cycles from its first tap to its
    last (the lanes and tiles as scheduled: ``taps - bound`` is what the tiling leaves idle);
    ``ends`` its START cycle and its drain (:func:`drain`); ``cycles`` = ``taps + ends``, and
    their sum is :func:`cycles`."""
    geo = sch.geometry
    rows = []
    for ph in sch.phases:
        total = phase_cycles(ph, geo, act_latency)
        ends = PHASE_START + drain(ph, geo, act_latency)
        rows.append({"layer": ph.layer, "branch": BRANCH_NAMES[ph.mode], "kind": KIND_NAMES[ph.kind],
                     "t_begin": ph.t_begin, "macs": ph.macs, "bound": round(ph.macs / sch.lanes_asked, 2), "taps": total - ends,
                     "ends": ends, "cycles": total})
    return rows


def cycle_breakdown(sch: Schedule, act_latency):
    """A beat's worst-case cycles in three parts (:func:`cycles_by_phase` summed): ``bound`` (the
    MACs over the P lanes), ``tiling`` (tap cycles beyond it: lanes without an output channel or
    position in a tile, polyphase taps) and ``ends`` (the phases' START cycles and drains);
    ``bound + tiling + ends`` is :func:`cycles`."""
    rows = cycles_by_phase(sch, act_latency)
    bound = round(sum(r["macs"] for r in rows) / sch.lanes_asked, 2)
    taps = sum(r["taps"] for r in rows)
    return {"bound": bound, "tiling": round(taps - bound, 2), "ends": sum(r["ends"] for r in rows) + END_ADJUST}


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return abs(a)


def conflict_free(ph: Phase, geo: Geometry):
    """Whether the R streams of ``ph`` never ask one memory of a bank for two words in a cycle.

    In a cycle every stream reads memory ``(base + stream_slot_in[r] + stream_pos[r]) mod M``
    (``base`` is common), and writes (and reads, MUX-skip) memory ``(base' + stream_slot_out[r] +
    stream_t[r]) mod M``: streams with the same offsets read the same word (one read, shared),
    others must hit different memories. The logits pass writes no bank.
    (:func:`ternecg.hw.schedule_run.memory_conflicts` checks every access of a beat.)"""
    M = geo.mems
    seen = {}
    for r in range(geo.streams):
        key = (ph.stream_slot_in[r], ph.stream_pos[r])
        if seen.setdefault((key[0] + key[1]) % M, key) != key:
            return False
    if ph.mode == MODE_FINAL:
        return True
    offsets = [(ph.stream_slot_out[r] + ph.stream_t[r]) % M for r in range(geo.streams)]
    return len(set(offsets)) == len(offsets)


def act_latency_of(model_or_bits):
    """Latency of the activation units (both kinds): b search steps plus the output register."""
    bits = model_or_bits if isinstance(model_or_bits, int) else model_or_bits.cfg.act_bits
    return bits + 1


def compile_schedule(model: IntModel, parallel=1, *, streams=None, read_stages=None) -> Schedule:
    """The schedule of ``model`` on ``parallel`` lanes (``streams``: force R; ``read_stages``: force
    1 or 2, else 2 from :data:`STAGED_READ_PARALLEL` lanes on; both for tests)."""
    from .schedule_search import _best_plan, choose_geometry    # it builds on this module
    check_parallel(model, parallel)
    if read_stages not in (None, 1, 2):
        raise TernEcgError(f"read_stages = {read_stages!r} must be 1 or 2")
    if streams is None:
        geo, kinds = choose_geometry(model, parallel)
    else:
        if not isinstance(streams, int) or streams < 1 or parallel % streams:
            raise TernEcgError(f"streams = {streams!r} must divide parallel = {parallel}")
        best = _best_plan(model, streams, parallel // streams)
        if best is None:
            raise TernEcgError(f"parallel = {parallel}, streams = {streams}: no conflict-free plan")
        _, geo, kinds = best
    if read_stages is None:
        read_stages = 2 if geo.parallel >= STAGED_READ_PARALLEL else 1
    geo = replace(geo, read_stages=read_stages)
    cfg = model.cfg
    sch = Schedule(geometry=geo, act_bits=cfg.act_bits, input_length=cfg.input_length,
                   n_classes=len(cfg.classes), model_id=model_id(model.sha256), macs=cfg.macs, asked=parallel)
    sch.phases = _plan(model, geo, kinds)
    _fill_roms(model, sch)
    M = geo.mems
    sch.bank_words[0] = -(-cfg.input_length // M)
    sch.map_words[0] = cfg.input_length
    for ph in sch.phases:
        if ph.mode != MODE_FINAL:
            sch.bank_words[ph.out_bank] = max(sch.bank_words[ph.out_bank], ph.cout * ph.lq_out)
            sch.map_words[ph.out_bank] = max(sch.map_words[ph.out_bank], ph.cout * ph.lout)
        if ph.mode == MODE_DW:
            sch.mux_channels = max(sch.mux_channels, ph.cout)
    sch.acc_width = max(conv.acc_bits for _, _, conv, _ in _convs(model))
    return sch


def _fill_roms(model, sch):
    """Weight rows, per-stream threshold tables and biases, in the order the counters use them."""
    geo = sch.geometry
    R, L = geo.streams, geo.lanes
    q = (1 << sch.act_bits) - 1
    thresholds = [[] for _ in range(R)]
    convs = list(_convs(model))
    conv_of = {(li, mode): conv for li, mode, conv, g in convs}
    for ph in sch.phases:
        mode, conv = ph.mode, conv_of[ph.layer, ph.mode]
        s = conv.spec
        for gi in range(ph.n_groups):
            k = ph.taps[gi if ph.multi_kernel else 0]
            for b in range(ph.n_blocks):
                lanes = {(r, l): lane_channel(ph, s, gi, b, r, l, geo) for r in range(R) for l in range(L)}
                for c in range(ph.cin_g):
                    for j in range(k):
                        word = 0
                        for (r, l), (oc, shift) in lanes.items():
                            if oc is None:
                                continue
                            codes = conv.codes[oc]
                            jj = j - shift
                            code = int(codes[c, jj]) if 0 <= jj < codes.shape[1] else 0
                            word |= (code & 3) << (2 * (r * L + l))
                        sch.weights.append(word)
                if mode == MODE_FINAL:
                    continue
                # this block's act_block_step activation indices, per stream
                for r in range(R):
                    for a in range(ph.act_block_step):
                        oc, _ = lanes[r, a if ph.lane_act_step else 0]
                        thresholds[r].append([int(v) for v in conv.thresholds[oc].tolist()]
                                             if oc is not None else [0] * q)
    sch.stream_thresholds = thresholds
    final = [conv for _, mode, conv, _ in convs if mode == MODE_FINAL]
    if final:
        sch.bias = [int(b) for b in final[0].bias.tolist()]


def lane_channel(ph: Phase, spec, gi, b, r, l, geo: Geometry):
    """(output channel of lane (r, l) in block (gi, b), kernel shift) or (None, 0) if unused."""
    if l >= ph.valid_lanes[b][r]:
        return None, 0
    if ph.kind == KIND_POS:
        rt = geo.streams // ph.stream_blocks
        block = b * ph.stream_blocks + r // rt
        return gi * spec.cout_g + block * geo.lanes + l, 0
    if ph.kind == KIND_DWPOS:       # every stream on block b's one channel
        return gi * (spec.cout // ph.n_groups) + b, spec.stride * l
    # KIND_CHAN: channel of stream r, lane l = polyphase position (kernel shifted by stride * l);
    # a block's channels are in_block_step apart (R, or the channels of stream_blocks whole groups)
    cg = spec.cout // ph.n_groups
    return gi * cg + b * ph.in_block_step + r, spec.stride * l
