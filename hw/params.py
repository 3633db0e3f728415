"""Model parameters live in ROMs, and only there: the hook for bitstream patching (boards/patch.py).

Every value of a model file that reaches the hardware is the initial content of one of the
*parameter ROMs* below; the logic itself depends only on the topology (the schedule) and on a
few widths (accumulator, threshold and logit widths). Two model files with the same topology and
widths therefore give the same design apart from these ROM contents, which is what lets
``boards/patch.py`` swap one model's parameters into another's bitstream (icebram / ecpbram)
without synthesis or place-and-route.

========================  =================================================================
ROM (``param_roms`` key)  contents
========================  =================================================================
``engine.weights``        ternary weight codes, P x 2 bits per word (``Schedule.weights``)
``engine.params``         word 0/1: model id (low/high 16 bits), then one bias per class
``engine.act.rom[s]``     activation thresholds (one ROM, or one per search stage when P > 1)
========================  =================================================================

Each is a :class:`amaranth.hdl.MemoryData` created when the component is constructed, so a
caller can read the images (:func:`images`) or replace them before elaboration (placeholders:
:func:`set_placeholders`). The memories carry ``rom_style = "block"`` (:data:`ROM_ATTRS`), which
tells Yosys to map them to block RAM even where it would otherwise build a small ROM from LUTs;
a ROM in LUTs could not be patched.
"""

from __future__ import annotations

import random

from amaranth.hdl import MemoryData, Shape

#: memory attributes of every parameter ROM: Yosys maps it to block RAM (EBR), never to LUTs
ROM_ATTRS = {"rom_style": "block"}

#: small parameter ROMs are this deep (one iCE40 RAM4K in 256 x 16 mode), so that a random
#: placeholder fills a whole 256-word bit slice of the block RAM (icebram matches such slices)
MIN_DEPTH = 256

#: words of the model id at the start of ``engine.params`` (16 bits each, low half first)
ID_WORDS = 2


def model_id(sha256_hex: str) -> int:
    """The model file's id: its sha256's first 4 bytes as a big-endian integer (the STATUS
    frame's ``model_id``, boards/protocol.py)."""
    return int(sha256_hex[:8], 16)


def width(md: MemoryData) -> int:
    return Shape.cast(md.shape).width


def raw(md: MemoryData, value: int) -> int:
    """A row value as the unsigned bit pattern stored in the block RAM (two's complement)."""
    return int(value) & ((1 << width(md)) - 1)


def images(roms: dict) -> dict:
    """``{name: [raw word per row]}`` of ``{name: MemoryData}`` (rows beyond ``init`` are 0)."""
    out = {}
    for name, md in roms.items():
        words = [raw(md, v) for v in md.init]
        out[name] = words + [0] * (md.depth - len(words))
    return out


def _from_raw(md: MemoryData, word: int) -> int:
    shape = Shape.cast(md.shape)
    if shape.signed and word >> (shape.width - 1):
        return word - (1 << shape.width)
    return word


def placeholder_words(name: str, md: MemoryData, seed: int) -> list:
    """Random raw words for every row of ``md`` (deterministic in ``seed`` and ``name``)."""
    rng = random.Random(f"ternecg-placeholder:{seed}:{name}")
    return [rng.getrandbits(width(md)) for _ in range(md.depth)]


def set_init(md: MemoryData, words) -> None:
    """Replace the contents of ``md`` (before elaboration) by raw words."""
    md.init = [_from_raw(md, w) for w in words]


def set_placeholders(roms: dict, seed: int) -> dict:
    """Fill every ROM of ``roms`` with random placeholder words; returns the placeholder images."""
    out = {}
    for name, md in roms.items():
        words = placeholder_words(name, md, seed)
        set_init(md, words)
        out[name] = words
    return out
