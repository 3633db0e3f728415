"""Resource estimate of the accelerator: logic cells, block RAMs and cycles per beat, without synthesis.

:func:`estimate` answers from the compiled schedule (hw/schedule.py) and the widths alone:

``cycles_per_beat``
    Exact. The back-to-back period between results: the engine's worst-case compute cycles
    (no MUX-skip block skipped) counted in closed form from the phases (:func:`compute_cycles`:
    per phase its START cycle, ``cin_g * taps`` cycles per tile of every block, and the drain
    from the last tap to the next phase), plus :data:`PERIOD_GAP`, the cycles between one
    beat's last logit and the next beat's first busy cycle (docs/core.md: the next beat is
    normalised and loaded while the engine computes). ``make hw-report`` compares it with the
    period measured in Verilator at every setting.
``ebr``
    Block RAMs: every memory of the design (:func:`memories`: the parameter ROMs, the feature
    banks, the normaliser's sample RAM) but those in SPRAM (:func:`in_spram`: on the UP5K, as
    ``make hw-report`` and the iCEBreaker build them, the normaliser's sample RAM and, with one
    memory per bank, feature banks 1 and 2; ``spram`` counts them) in the device's blocks
    (:func:`blocks`): iCE40 RAM40_4K
    (4 kbit as 256 x 16, 512 x 8, 1024 x 4 or 2048 x 2), ECP5 DP16KD (18 kbit as 16384 x 1 ..
    1024 x 18, 512 x 36 with one read and one write port); a RAM of at most
    :data:`LOGIC_RAM_BITS` bits is left in logic (ECP5 distributed RAM) and costs no block.
``lc``
    Logic cells (iCE40 ICESTORM_LC) or LUT4s (ECP5 TRELLIS_COMB), as nextpnr counts them. Each
    part of the design (:data:`PARTS`: the ``lc_by_module`` keys of ``make hw-report`` grouped by
    their last name) has three lines ``a + b * x`` (:data:`LUT_MODEL`), for its LUT4, flip-flops
    and carry bits, where ``x`` is a structural size of that part (:func:`features`: lanes times
    accumulator width, streams times memories times address bits, the phase table's bits, ...).
    The device's cells follow from the sums (:func:`device_cells`): on the iCE40 a logic cell
    holds a LUT4 and a flip-flop, and a share :data:`FF_ALONE` of the flip-flops gets a cell of its
    own; on the ECP5 nextpnr counts LUT4s, two per CCU2C carry and six per distributed RAM cell
    (the feature banks at wide settings), times :data:`COMB_PER_LUT` for what its packer adds.
    Settings with two read stages (``Geometry.read_stages``) add :data:`STAGED_LUTS_PER_STREAM`
    LUT4 per stream, measured once (the lines are of one stage).
    The constants were fitted once by least squares (:func:`fit`; ``ternecg hw-report
    --calibrate`` prints them from the hw.json of ``make hw-report``) at the settings recorded
    in :data:`CALIBRATION`: there the LC error is a fit residual; between and beyond them a
    prediction. Every run of ``make hw-report`` prints ``estimate_error`` for every setting and
    flags one beyond :data:`LC_TOLERANCE`.

Imports only the hardware package and the spec (no torch, no simulator, no boards).
"""

from __future__ import annotations

import functools
import math

from ternecg.errors import TernEcgError

from .engine_layout import Widths, descriptor_layout, logit_width
from .schedule import MODE_FINAL, Schedule, act_latency_of, compile_schedule, serializer_latency

__all__ = ["DEVICES", "estimate", "compute_cycles", "cycles_per_beat", "memories", "blocks", "ebr",
           "in_spram", "spram", "spram_saved",
           "features", "lut_by_part", "part_of", "fit", "lc", "lutram", "PARTS", "PERIOD_GAP", "LC_TOLERANCE"]

#: the devices of ``make hw-report``
DEVICES = ("up5k", "ecp5-85f")

#: cycles between a beat's last logit and the next beat's first busy cycle, back to back
#: (docs/core.md; checked against the Verilator period by ``make hw-report``)
PERIOD_GAP = 3

#: what each device has (logic cells or LUT4, block RAMs)
CAPACITY = {"up5k": {"lc": 5280, "ebr": 30}, "ecp5-85f": {"lc": 83640, "ebr": 208}}

#: the LC estimate should be within this fraction of nextpnr's (``make hw-report`` flags it)
LC_TOLERANCE = 0.10

#: block RAM shapes (depth, width) per device
BLOCK_SHAPES = {
    "up5k": ((256, 16), (512, 8), (1024, 4), (2048, 2)),
    "ecp5-85f": ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)),
}

#: Yosys' memory mapping costs (memory_libmap with the techlibs of Yosys 0.5x-0.7x: ice40/brams.txt,
#: lattice/brams_16kd.txt, lattice/lutrams_trellis.txt): a block RAM costs BLOCK_COST, an ECP5
#: distributed RAM cell (16 x 4) LUTRAM_COST, a bit in flip-flops 1; a RAM goes where it costs
#: least (the parameter ROMs always to block RAM: ``rom_style = "block"``, hw/params.py)
BLOCK_COST = {"up5k": 64, "ecp5-85f": 128}
LUTRAM_COST = {"up5k": None, "ecp5-85f": 4}
LUTRAM_SHAPE = (16, 4)

def _check_device(device):
    # one line naming the value and the choices (caught at the CLI)
    if device not in DEVICES:
        raise TernEcgError(f"device {device!r} is not one of {', '.join(DEVICES)}")


# ---- cycles -----------------------------------------------------------------------------------

def compute_cycles(sch: Schedule, act_latency=None):
    """Worst-case engine cycles of a beat (no MUX-skip block skipped), in closed form from the
    phases: per phase one START cycle, ``n_blocks * n_tiles * cin_g * taps[g]`` tap cycles over
    its groups, then the drain: the logits phase hands its last block's logits on one per cycle
    after the read (``1 + outputs``); an activation phase waits for the read, the serializer
    (its latency and L lanes), the activation unit and the MUX-skip stage (``latency + L +
    act_latency + 2``); with two read stages (``Geometry.read_stages``), one more cycle for the
    registered read requests."""
    if act_latency is None:
        act_latency = act_latency_of(sch.act_bits)
    g = sch.geometry
    total = 0
    for ph in sch.phases:
        kernels = [ph.taps[gi if ph.multi_kernel else 0] for gi in range(ph.n_groups)]
        taps = ph.n_blocks * ph.n_tiles * ph.cin_g * sum(kernels)
        if ph.mode == MODE_FINAL:
            tail = 1 + sum(ph.valid_lanes[-1])
        else:
            tail = serializer_latency(g) + g.lanes + act_latency + 2
        tail += g.read_stages - 1           # the registered read requests (IssueStage)
        total += 1 + taps + tail
    return total


def cycles_per_beat(sch: Schedule, act_latency=None):
    """The period between back-to-back results: :func:`compute_cycles` + :data:`PERIOD_GAP`."""
    return compute_cycles(sch, act_latency) + PERIOD_GAP


# ---- block RAM --------------------------------------------------------------------------------

def memories(sch: Schedule):
    """``[(name, depth, width, rom, used)]`` of every memory of the accelerator of ``sch``
    (``rom``: a parameter ROM, always in block RAM; ``used``: the ROM's bits that are not the same
    in every row of its image, which are all Yosys keeps; a RAM's width), from the schedule and
    the widths alone (the names and shapes of ``Accelerator.param_roms()`` and
    ``FeatureBanks.memories()``, which the tests compare):

    - ``engine.weights``: one row of 2-bit codes per lane and tap; ``engine.params``: the model id
      and the biases, at least :data:`~ternecg.hw.params.MIN_DEPTH` deep, 16 or logit bits wide;
    - the threshold ROMs of each stream's activation unit: one of ``channels * 2^b`` entries
      (serial unit: entry 0 of a channel unused) or one per search stage ``s`` of ``channels *
      2^s`` (pipelined unit), each ``acc_width`` bits (one more when a threshold is the
      unreachable ``2^(acc_width - 1)``);
    - the feature banks: M memories each of bank 0 (two beats of signed 8-bit samples) and banks
      1, 2 (``act_bits``); the normaliser's sample RAM (one beat of raw samples).

    A model with an RR path adds its RR table's ROMs (not counted: ``make hw-report`` builds the
    default model, which has none)."""
    from ternecg.golden.spec.normalize import RAW_BITS
    from .engine import Engine
    from .params import ID_WORDS, MIN_DEPTH
    g = sch.geometry
    R, M, b = g.streams, g.mems, sch.act_bits
    lw = logit_width(sch)
    pw = max(lw, 16)
    pinit = [(sch.model_id >> (16 * k)) & 0xFFFF for k in range(ID_WORDS)]
    pinit += [v & ((1 << lw) - 1) for v in (sch.bias or [0])]
    roms = [("engine.weights", max(2, len(sch.weights)), 2 * sch.parallel, list(sch.weights)),
            ("engine.params", max(MIN_DEPTH, len(pinit)), pw, pinit)]
    hi = 1 << (sch.acc_width - 1)
    t_width = sch.acc_width + any(v == hi for table in sch.stream_thresholds for row in table for v in row)
    serial = Engine._unit(sch).__name__ == "SerialActivationUnit"
    for r, table in enumerate(sch.stream_thresholds):
        prefix = "engine.act" if R == 1 else f"engine.act{r}"
        if serial:
            image = [v for row in table for v in [0] + list(row)]
            roms.append((f"{prefix}.rom", len(image), t_width, image))
        else:
            for st in range(b):
                image = [row[((p << (b - st)) | (1 << (b - 1 - st))) - 1] for row in table
                         for p in range(1 << st)]
                roms.append((f"{prefix}.rom{st}", len(image), t_width, image))
    out = [(name, depth, width, True, _used_bits(image, depth, width)) for name, depth, width, image in roms]
    half_bits = max(1, (sch.input_length - 1).bit_length())
    mb = g.mem_bits
    for i, words in enumerate(sch.bank_words):
        depth = (2 << max(0, half_bits - mb)) if i == 0 else max(1, words)
        width = 8 if i == 0 else b
        out += [(f"engine.bank{i}_{k}", depth, width, False, width) for k in range(M)]
    out.append(("norm.ram", 1 << max(1, (sch.input_length - 1).bit_length()), RAW_BITS, False, RAW_BITS))
    return out


def _used_bits(image, depth, width):
    """Bits of a ROM (``image``, zero beyond it) that differ between rows."""
    mask = (1 << width) - 1
    words = [v & mask for v in image] + ([0] if len(image) < depth else [])
    ones = zeros = 0
    for v in words:
        ones |= v
        zeros |= ~v & mask
    return max(1, bin(ones & zeros).count("1"))


def blocks(depth, width, device):
    """Block RAMs of one ``depth`` x ``width`` memory as Yosys' memory_libmap builds it: the
    fewest over the device's shapes, where a memory may also be cut, in depth or in width, into
    whole blocks of one shape and a rest built the same way (2,400 x 13 on the iCE40: rows 0 ..
    2,047 in seven 2048 x 2 blocks, the other 352 rows in two 256 x 16: nine blocks)."""
    _check_device(device)
    return _blocks(depth, width, BLOCK_SHAPES[device])


@functools.lru_cache(maxsize=None)
def _blocks(depth, width, shapes):
    if depth <= 0 or width <= 0:
        return 0
    best = None
    for d, w in shapes:
        options = [math.ceil(depth / d) * math.ceil(width / w)]
        if depth > d and depth % d:
            options.append(depth // d * math.ceil(width / w) + _blocks(depth % d, width, shapes))
        if width > w and width % w:
            options.append(width // w * math.ceil(depth / d) + _blocks(depth, width % w, shapes))
        best = min(options + ([best] if best is not None else []))
    return best


def lutram_cells(depth, width):
    """ECP5 distributed RAM cells (TRELLIS_DPR16X4) of one memory."""
    return math.ceil(depth / LUTRAM_SHAPE[0]) * math.ceil(width / LUTRAM_SHAPE[1])


def placement(depth, width, rom, device):
    """Where Yosys puts one memory: ``("block", blocks)``, ``("lutram", cells)`` or
    ``("logic", bits)``, whichever costs least (:data:`BLOCK_COST`)."""
    _check_device(device)
    n = blocks(depth, width, device)
    if rom:
        return "block", n
    options = [(BLOCK_COST[device] * n, "block", n), (depth * width, "logic", depth * width)]
    if LUTRAM_COST[device]:
        cells = lutram_cells(depth, width)
        options.append((LUTRAM_COST[device] * cells, "lutram", cells))
    cost, kind, amount = min(options, key=lambda o: o[0])
    return kind, amount


#: the devices with single-port RAMs (iCE40 SB_SPRAM256KA: 16,384 x 16) and how many they have
SPRAM = {"up5k": 4}
SPRAM_SHAPE = (16384, 16)


def in_spram(sch: Schedule, device):
    """Names (:func:`memories`) of the RAMs that ``Accelerator(model, P, spram=True)`` puts in SPRAM
    on ``device`` (``make hw-report``'s UP5K rows, the iCEBreaker build): the normaliser's sample
    RAM, and feature banks 1 and 2 when a bank is one memory (hw/feature_banks.py); none on a
    device without SPRAM."""
    _check_device(device)
    if device not in SPRAM:
        return []
    d_max, w_max = SPRAM_SHAPE
    fits = {name: not rom and depth <= d_max and width <= w_max for name, depth, width, rom, _ in memories(sch)}
    banks = [n for n in fits if n.startswith(("engine.bank1_", "engine.bank2_"))]
    return ([n for n in fits if n == "norm.ram" and fits[n]]
            + (banks if sch.geometry.mems == 1 and all(fits[n] for n in banks) else []))


def _placed(sch: Schedule, device):
    skip = set(in_spram(sch, device))
    return [placement(d, w, rom, device) for name, d, _, rom, w in memories(sch) if name not in skip]


def ebr(sch: Schedule, device):
    """Block RAMs of the whole accelerator on ``device`` (iCE40 RAM40_4K or ECP5 DP16KD), without
    the RAMs in SPRAM (:func:`in_spram`)."""
    return sum(n for kind, n in _placed(sch, device) if kind == "block")


def spram(sch: Schedule, device):
    """SPRAMs of the accelerator on ``device`` (:func:`in_spram`: 3 on the UP5K with one memory per
    feature bank, else 1; 0 on the ECP5)."""
    return len(in_spram(sch, device))


def lutram(sch: Schedule, device):
    """ECP5 distributed RAM cells (TRELLIS_DPR16X4) of the accelerator (0 on iCE40)."""
    return sum(n for kind, n in _placed(sch, device) if kind == "lutram")


# ---- logic ------------------------------------------------------------------------------------

#: the parts of the LUT model: (name, the ``lc_by_module`` name segments it covers)
PARTS = (
    ("lanes", ("lanes",)),
    ("serializer", ("serializer",)),
    ("act", ("act", "writeback.act")),
    ("mux", ("mux",)),
    ("banks", ("banks",)),
    ("issue", ("issue",)),
    ("sequencer", ("sequencer",)),
    ("phases", ("phases",)),
    ("rest", ()),
)


def part_of(module):
    """The :data:`PARTS` name of a hierarchical module name (``hwtop.acc.engine.lanes``)."""
    last = module.split(".")[-1]
    for name, keys in PARTS:
        if last in keys or (name == "act" and last.startswith("act") and last[3:].isdigit()):
            return name
    return "rest"


def features(sch: Schedule):
    """``{part: x}``: the structural size each part's LUT4 grows with (:data:`PARTS`)."""
    from .engine import Engine
    w = Widths(sch)
    R, M, P = w.R, w.M, sch.parallel
    wb = max(w.word)
    serial = Engine._unit(sch).__name__ == "SerialActivationUnit"
    return {
        "lanes": P * sch.acc_width,                      # an add/sub accumulator per lane
        # every lane's sum held, handed on one by one (one stream of one lane: passed straight on;
        # one lane of several streams: activation sums pass straight on, logits are held)
        "serializer": P * sch.acc_width if P > 1 else 0,
        "act": R * (SERIAL_ACT_SIZE if serial else 1),  # one unit per stream
        # one MUX-skip stage per stream (the sum of the streams' results where a depthwise phase
        # has them all on one channel, hw/mux_skip.py ``shared``, is a few LUTs: not counted;
        # ECP5 P = 15 with it: 10,707 LUT4 placed, estimate 11,275, +5.3 %)
        "mux": R * sch.act_bits,
        "banks": R * M * (wb + 2 * sch.act_bits + 8) if M > 1 else 0,   # the crossbars
        "issue": R * (wb + w.m + w.pos),                 # one address per stream
        "sequencer": descriptor_layout(sch).size,        # the counters of the descriptor's fields
        "phases": len(sch.phases) * descriptor_layout(sch).size,       # the phase table (LUT ROM)
        "rest": 0,                                       # normaliser, head, loader, glue: fixed
    }


#: the serial activation unit (hw/activation_serial.py: one ROM, one comparator, fewer flip-flops)
#: against the pipelined one (hw/activation.py: a ROM and a comparator per search stage), in cells
SERIAL_ACT_SIZE = 0.5

#: per part and kind of cell (LUT4, flip-flop, carry bit) the line ``a + b * features()[part]``;
#: fitted by :func:`fit` (``ternecg hw-report --calibrate``) from the settings of :data:`CALIBRATION`
LUT_MODEL = {
    'lanes': {'lut': (33.65, 1.4521), 'ff': (3.78, 0.775), 'carry': (-2.75, 0.9579)},
    'serializer': {'lut': (41.67, 2.9668), 'ff': (33.7, 0.8832), 'carry': (45.75, 0.6052)},
    'act': {'lut': (91.45, -10.9823), 'ff': (-34.23, 201.7912), 'carry': (-0.17, 42.8063)},
    'mux': {'lut': (-7.63, 20.4109), 'ff': (14.16, 8.0929), 'carry': (-1.59, 6.2777)},
    'banks': {'lut': (35.51, 2.8229), 'ff': (21.86, 0.0939), 'carry': (0.0, 0.0)},
    'issue': {'lut': (-85.22, 5.1571), 'ff': (28.57, 0.3072), 'carry': (-19.98, 1.6704)},
    'sequencer': {'lut': (139.53, 0.9435), 'ff': (116.43, -0.0417), 'carry': (89.08, 0.0575)},
    'phases': {'lut': (61.7, 0.0027), 'ff': (0.0, 0.0), 'carry': (0.0, 0.0)},
    'rest': {'lut': (270.37, 0.0), 'ff': (235.43, 0.0), 'carry': (115.41, 0.0)},
}

#: iCE40 logic cells = LUT4 + FF_ALONE x flip-flops: the share of flip-flops that nextpnr cannot
#: pack with the LUT that feeds them (fitted; 0.76-0.79 at P = 1, 2, 3, 6 on the UP5K)
FF_ALONE = 0.795

#: ECP5 TRELLIS_COMB = COMB_PER_LUT x (LUT4 + carry bits + RAM_LUTS per distributed RAM cell):
#: nextpnr counts a CCU2C as two LUT4s and a TRELLIS_DPR16X4 (:func:`lutram`) as six (four RAM
#: LUTs and two for its write port: its "Logic utilisation before packing"); its packer then
#: adds a few cells (constants, feed-throughs): COMB_PER_LUT, fitted (1.04 at P = 18, 36)
RAM_LUTS = 6
COMB_PER_LUT = 1.0415

#: the nextpnr runs the constants were fitted from: device -> lane counts. Reproduced by
#: ``ternecg hw-report --settings up5k:1,2,3,6 --settings ecp5-85f:18,36 --out DIR`` then
#: ``ternecg hw-report --calibrate --out DIR`` (Yosys 0.70, nextpnr seed 1; refitted after the
#: UP5K rows moved their RAMs to SPRAM); ECP5 P = 48 of the default report is left out of the fit,
#: as an out-of-sample check (and since Yosys' ABC9 asserts on it: synth_ecp5 -dff maps it, hw_report.py)
CALIBRATION = {'up5k': (1, 2, 3, 6), 'ecp5-85f': (18, 36)}


def cells_by_part(sch: Schedule):
    """``{part: {"lut", "ff", "carry"}}`` estimated (:data:`LUT_MODEL`)."""
    x = features(sch)
    return {name: {kind: max(0.0, a + b * x[name]) for kind, (a, b) in LUT_MODEL[name].items()}
            for name, _ in PARTS}


def lut_by_part(sch: Schedule):
    """``{part: estimated LUT4}``."""
    return {name: c["lut"] for name, c in cells_by_part(sch).items()}


def device_cells(device, lut, ff, carry, ram_cells=0):
    """Logic cells (iCE40) or TRELLIS_COMB (ECP5) of a design with these counts."""
    if device == "up5k":
        return lut + FF_ALONE * ff
    return COMB_PER_LUT * (lut + carry + RAM_LUTS * ram_cells)


def fit(samples):
    """Least-squares constants from measured settings.

    ``samples``: ``[(device, Schedule, per_module, flat, cells[, spram])]``: ``per_module`` =
    ``{"lut", "ff", "carry": {module: count}}`` of the unflattened synthesis (hw.json's
    ``lc_by_module``, ``ff_by_module``, ``carry_by_module``), ``flat`` = ``{"lut", "ff",
    "carry"}`` of the flattened one that nextpnr placed (``synth_cells``), ``cells`` nextpnr's
    count (``lc``), ``spram`` whether the setting had its feature banks in SPRAM (hw.json's
    ``spram``; their :func:`spram_saved` cells are added back: the lines are those of block RAM
    banks). The per-module counts are scaled to the flat totals (the unflattened
    synthesis may map LUTs differently: ABC9 or Yosys' own mapper), then per part and kind a line
    through its (x, count) points, pooled over the devices. Returns ``(lut_model, ff_alone,
    comb_per_lut)`` in the form of :data:`LUT_MODEL`, :data:`FF_ALONE` (from the iCE40 settings:
    the least-squares share of flip-flops with a logic cell of their own) and
    :data:`COMB_PER_LUT` (from the ECP5 settings, through the origin)."""
    kinds = ("lut", "ff", "carry")
    points = {name: {k: [] for k in kinds} for name, _ in PARTS}
    num = den = cnum = cden = 0.0
    for device, sch, counts, flat, cells, *spram in samples:
        x = features(sch)
        saved = spram_saved(sch, device) if spram and spram[0] else {}
        for kind in kinds:
            parts = {name: 0.0 for name, _ in PARTS}
            per = counts.get(kind, {})
            total = sum(per.values())
            # the lines are of one read stage: the staged requests' LUT4 are a term of their own
            own = flat[kind] - (staged_luts(sch) if kind == "lut" else 0) if flat.get(kind) is not None else None
            scale = own / total if total and own is not None else 1.0
            for module, n in per.items():
                parts[part_of(module)] += n * scale
            parts["banks"] += saved.get(kind, 0)
            for name in parts:
                points[name][kind].append((x[name], parts[name]))
        if device == "up5k" and flat.get("ff"):
            num += (cells - flat["lut"]) * flat["ff"]
            den += flat["ff"] ** 2
        elif device == "ecp5-85f" and flat.get("lut"):
            luts = flat["lut"] + flat["carry"] + RAM_LUTS * flat.get("lutram", 0)
            cnum += cells * luts
            cden += luts ** 2
    model = {name: {k: _line(pts[k]) if pts[k] else LUT_MODEL[name][k] for k in kinds}
             for name, pts in points.items()}
    return model, (round(num / den, 4) if den else FF_ALONE), (round(cnum / cden, 4) if cden else COMB_PER_LUT)


def _line(pts, digits=4):
    """``(a, b)`` of the least-squares line ``y = a + b x`` (``b = 0`` when x never varies)."""
    n = len(pts)
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx == 0:
        return round(my, 2), 0.0
    b = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
    return round(my - b * mx, 2), round(b, digits)


def spram_saved(sch: Schedule, device):
    """``{"lut", "ff"}`` that feature banks in SPRAM (:func:`in_spram`) do without: around a block
    RAM Yosys emulates the "old data" of a read that meets a write (hw/feature_banks.py) with a
    register of the write's address and data (flip-flops) and a bypass, an address comparator
    and a data multiplexer (LUT4: half the address bits and the data bits); the SPRAM's one port
    needs none. The lines of :data:`LUT_MODEL` were fitted with the banks in block RAM. Measured
    on the UP5K at P = 1 (``make hw-report``, the same Verilog but the banks): 30 flip-flops and
    25 LUT4 fewer with the SPRAMs; this gives 31 and 20."""
    names = set(in_spram(sch, device))
    banks = [(max(1, (depth - 1).bit_length()), width) for name, depth, width, _, _ in memories(sch)
             if name in names and name.startswith("engine.bank")]
    return {"ff": sum(a + w for a, w in banks), "lut": sum(math.ceil(a / 2) + w for a, w in banks)}


#: flat LUT4 per stream that the issue stage's registered read requests (``Geometry.read_stages``
#: 2, from 18 lanes on) add, beyond what the per-module lines see (the unflattened synthesis
#: counts only +55 in the issue stage): ECP5 P = 48, 8 streams, synthesised with one and with two
#: stages from the same Verilog otherwise (``ternecg hw-report --settings ecp5-85f:48``, Yosys
#: ``synth_ecp5`` ABC9, flattened): 13,213 -> 14,991 LUT4, i.e. 1,778 / 8
STAGED_LUTS_PER_STREAM = 222


def staged_luts(sch: Schedule):
    """The flat LUT4 the registered read requests add (:data:`STAGED_LUTS_PER_STREAM`)."""
    return STAGED_LUTS_PER_STREAM * sch.geometry.streams * (sch.geometry.read_stages - 1)


def lc(sch: Schedule, device):
    """Estimated logic cells (iCE40) or LUT4 (ECP5) of the accelerator on ``device``."""
    _check_device(device)
    parts = cells_by_part(sch).values()
    saved = spram_saved(sch, device)
    return round(device_cells(device, sum(c["lut"] for c in parts) - saved["lut"] + staged_luts(sch),
                              sum(c["ff"] for c in parts) - saved["ff"],
                              sum(c["carry"] for c in parts), lutram(sch, device)))


# ---- all together -----------------------------------------------------------------------------

def estimate(model, parallel, device):
    """``{"lc", "ebr", "spram", "cycles_per_beat"}`` of ``model`` (a loaded model file) on
    ``parallel`` lanes on ``device`` (:data:`DEVICES`), without synthesis (TernEcgError for a bad
    value)."""
    _check_device(device)
    sch = compile_schedule(model, parallel)
    return {"lc": lc(sch, device), "ebr": ebr(sch, device), "spram": spram(sch, device),
            "cycles_per_beat": cycles_per_beat(sch)}
