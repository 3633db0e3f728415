"""Per-patient models without place-and-route (boards/patch.py): the slice bookkeeping, and on
real iCEBreaker / ULX3S builds (slow: one build per board, shared by the tests of this module)
that a patched bitstream holds the patient model's ROM images and nothing else changed, that
those contents read back from the bitstream give exactly the design generated for the patient
model, and that this design classifies bit-exactly like the integer reference of that model.

The iCEBreaker build here is also the synthesis smoke test of the board top
(:func:`test_icebreaker_build_report`; tests/boards/test_synth.py built the same design a second
time before issue 16). The ULX3S build and its tests are in test_patch_ulx3s.py: `make test`
distributes whole files over its two pytest-xdist workers (``--dist loadfile``), so each board is
built once per run and the two builds can run side by side."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ternecg.boards import patch as P
from ternecg.errors import TernEcgError

REPO = Path(__file__).resolve().parents[2]
ROOT = "build/test_patch"
PATIENT = "models/patient/100.json"

sys.path.insert(0, str(REPO / "tests" / "hw"))            # engine_harness, streams


def cli(*args):
    proc = subprocess.run([sys.executable, "-m", "ternecg.cli", "patch", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def one_line_error(rc, err, *words):
    assert rc == 2 and "Traceback" not in err, err
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], lines[0]


# ---- bookkeeping (fast) --------------------------------------------------------------------------

def test_rom_slices_round_trip():
    rng = random.Random(1)
    words = [rng.getrandbits(13) for _ in range(600)]
    sl = P.rom_slices(words, 13, 256)
    assert len(sl) == 3 * 13                        # 600 words -> 3 blocks of 256, 13 bits
    assert sl[(2, 0)] >> 88 == 0                    # rows beyond the ROM are 0
    assert P.words_from_slices(sl, 13, 600, 256) == words


def _icebram(pairs_run, slices):
    """icebram on a multiset of physical slices: one hex grid, every from-slice unique and found
    the same number of times (at least once), then replaced."""
    fr, to = P._grid(pairs_run, 256)
    fr = [int(x, 16) for x in fr.split()]
    to = [int(x, 16) for x in to.split()]
    assert len(fr) % 256 == 0 and all(v < 16 for v in fr)
    pattern = {}
    for col in range(4):                            # icebram's generate_pattern
        for b in range(len(fr) // 256):
            f = sum(((fr[b * 256 + k] >> col) & 1) << k for k in range(256))
            t = sum(((to[b * 256 + k] >> col) & 1) << k for k in range(256))
            assert f not in pattern, "Conflicting from pattern"
            pattern[f] = t
    counts = {f: slices.count(f) for f in pattern}
    assert len(set(counts.values())) == 1 and min(counts.values()) >= 1
    return [pattern.get(s, s) for s in slices]


@pytest.mark.parametrize("n", [8, 9, 10, 11])
def test_icebram_runs_replace_every_slice_once(n):
    rng = random.Random(n)
    pairs = [(rng.getrandbits(256), rng.getrandbits(256) if k % 3 else 0) for k in range(n)]
    runs = P._runs(P.ICE40, pairs, random.Random(0))
    assert len(runs) == (1 if n % 4 == 0 else 2) and all(len(r) % 4 == 0 for r in runs)
    slices = [f for f, _ in pairs] + [rng.getrandbits(256) for _ in range(5)]     # + other RAMs
    for run in runs:
        slices = _icebram(run, slices)
    assert slices[:n] == [t for _, t in pairs]


def test_ecpbram_run_is_padded():
    pairs = [(k + 1, k) for k in range(6)]
    runs = P._runs(P.ECP5, pairs, random.Random(0))
    assert len(runs) == 1 and len(runs[0]) == 8 and runs[0][:6] == pairs


def _synthetic_ice40(words, width):
    """One RAM4K in 2048 x 2 mode (read mode 3) holding a 2-bit ROM, laid out as icebram reads it."""
    locs, rows = P._ICE40_INDEX[3]
    bits = np.zeros(4096, dtype=np.uint8)
    for (b, i), s in P.rom_slices(words, width, 256).items():
        row = rows[locs.index((b * 512, i * 8))]
        bits[row] = [(s >> k) & 1 for k in range(256)]
    return {"6,3": (3, bits)}


def test_locate_finds_each_slice_once():
    rng = random.Random(2)
    words = [rng.getrandbits(2) for _ in range(2048)]
    brams = _synthetic_ice40(words, 2)
    loc = P.locate(P.ICE40, brams, {"w": words}, {"w": 2})
    assert sorted(r[2] for r in loc["w"]) == sorted(f"6,3:{b}:{i}" for b in range(0, 4096, 512) for i in (0, 8))
    with pytest.raises(TernEcgError, match="not in any block RAM"):
        P.locate(P.ICE40, brams, {"w": [w ^ 1 for w in words]}, {"w": 2})
    twice = dict(brams, **{"19,3": brams["6,3"]})
    with pytest.raises(TernEcgError, match="in 2 block RAM slices"):
        P.locate(P.ICE40, twice, {"w": words}, {"w": 2})


def test_tile_group_repeat_is_ignored():
    a = ".tile_group A B C\nfoo\n.bram_init 3\n000 001\n\n.tile X\n"
    b = ".tile_group A B C C\nfoo\n.bram_init 3\n0ff 001\n\n.tile X\n"
    assert P._non_bram_lines(P.ECP5, a) == P._non_bram_lines(P.ECP5, b)


def test_no_build_is_one_line(tmp_path):
    rc, _, err = cli("--board", "icebreaker", "--model", PATIENT, "--out", "build/test_patch_none")
    one_line_error(rc, err, "no patchable icebreaker build", "make synth BOARD=icebreaker")


# ---- real builds (slow) --------------------------------------------------------------------------

def _build(board, figures=False):
    from ternecg.boards.build import build
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        return build(board, root=ROOT, figures=figures)
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def ice_build():
    return _build("icebreaker", figures=True)          # with LUT4 per module (ULX3S: without)


def _images(path, parallel=1):
    """The ROM images of a model file, straight from the hardware generator."""
    from amaranth.hdl import Fragment
    from ternecg.golden.spec import modelfile
    from ternecg.hw import params
    from ternecg.hw.top import Accelerator
    acc = Accelerator(modelfile.load(path), parallel)
    images = params.images(acc.param_roms())
    Fragment.get(acc, None)
    return images


def _ram_words(board, text, manifest):
    """ROM words at the recorded slice locations of a routed design / unpacked bitstream text."""
    fam = P.FAMILIES[board]
    phys = P.physical_slices(fam, P.read_brams(fam, text))
    return {name: P.words_from_slices({(b, i): phys[loc] for b, i, loc in r["slices"]}, r["width"],
                                      r["depth"], fam.slice_words)
            for name, r in manifest["roms"].items()}


def _patch(board):
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        return P.patch(board, PATIENT, root=ROOT)
    finally:
        os.chdir(cwd)


@pytest.mark.slow
@pytest.mark.fpga
def test_icebreaker_build_report(ice_build):
    """Synthesis smoke test of the iCEBreaker board top (Yosys + nextpnr-ice40 + icepack): timing
    met, resources within the UP5K (at most 14 EBR at P = 1, issue 17: the beat buffer, the
    normaliser's RAM and feature banks 1 and 2 in the four SPRAMs), a bitstream, and the saved
    report with LUT4 per module (the UART, the link and the accelerator each take some, most of it
    named)."""
    r = ice_build
    assert r["timing_met"] and r["lc_used"] <= r["lc_total"] and r["ebr"] <= 14 and r["spram"] == 4
    assert (REPO / r["bitstream"]).stat().st_size > 100_000
    saved = json.loads((REPO / ROOT / "icebreaker" / "report.json").read_text())
    assert set(saved) >= {"lc_used", "lc_total", "ff", "ebr", "dsp", "fmax_mhz", "target_mhz",
                          "timing_met", "seconds", "lut4_by_module", "lut4_by_part"}
    parts = saved["lut4_by_part"]
    assert parts["uart"] > 0 and parts["link"] > 0 and parts["accelerator"] > 0
    # block RAMs per memory (boards/memories.py) add up to nextpnr's counts
    mem = saved["memories"]
    assert sum(mem["ebr"].values()) == r["ebr"] and sum(mem["spram"].values()) == r["spram"]
    assert any(name.endswith("engine.wrom") for name in mem["ebr"])
    assert parts["other"] < parts["accelerator"]            # the parts name where the logic is


@pytest.mark.slow
@pytest.mark.fpga
def test_build_holds_its_model_and_the_patient_patch_holds_the_patient(ice_build):
    check_build_and_patch("icebreaker", ice_build)


def check_build_and_patch(board, report):
    """The routed placeholder design holds the placeholders, the build's bitstream its own model,
    the patched bitstream the patient model (also used by test_patch_ulx3s.py)."""
    fam = P.FAMILIES[board]
    bdir = REPO / ROOT / board
    manifest = json.loads((bdir / P.MANIFEST).read_text())
    assert report["timing_met"] and report["patchable"]["param_slices"] == sum(
        len(r["slices"]) for r in manifest["roms"].values())
    # the routed placeholder design holds the placeholders, the build's bitstream its own model
    ph = {n: P._read_hex(bdir / r["placeholder"]) for n, r in manifest["roms"].items()}
    assert _ram_words(board, (bdir / fam.placeholder).read_text(), manifest) == ph
    assert _ram_words(board, (bdir / fam.routed).read_text(), manifest) == _images(None)

    r = _patch(board)
    assert all(r["checks"].values()) and r["seconds"] < 60
    assert json.loads((bdir / "patch.json").read_text())["bitstream"] == r["bitstream"]
    # unpack the patched bitstream here again: its RAMs hold the patient model's images
    P.unpack(fam, bdir, str(Path(r["bitstream"]).relative_to(ROOT + "/" + board)), "check" + Path(fam.routed).suffix)
    unpacked = (bdir / ("check" + Path(fam.routed).suffix)).read_text()
    patient = _images(PATIENT)
    assert _ram_words(board, unpacked, manifest) == patient != _images(None)


@pytest.mark.slow
@pytest.mark.fpga
def test_patched_contents_make_the_patient_design(ice_build):
    """The default model's accelerator with the ROM words read back from the patched bitstream:
    its Verilog is the Verilog generated directly for the patient model, and in simulation it
    classifies real beats bit-exactly like the patient model's integer reference."""
    from ternecg.golden import fixture
    from ternecg.golden.spec import modelfile
    from ternecg.hw import params
    from ternecg.hw.top import Accelerator
    from ternecg.hw.verilog import generate
    from engine_harness import compare, run_top

    r = _patch("icebreaker")
    bdir = REPO / ROOT / "icebreaker"
    manifest = json.loads((bdir / P.MANIFEST).read_text())
    P.unpack(P.ICE40, bdir, str(Path(r["bitstream"]).relative_to(ROOT + "/icebreaker")), "check2.asc")
    words = _ram_words("icebreaker", (bdir / "check2.asc").read_text(), manifest)
    out = REPO / ROOT / "verilog"

    def with_words(acc):
        for name, md in acc.param_roms().items():
            params.set_init(md, words[name])
        return acc

    default, patient = modelfile.load(), modelfile.load(PATIENT)
    v_patched = generate(with_words(Accelerator(default, 1)), "ternecg_top", out / "patched").read_text()
    v_direct = generate(Accelerator(patient, 1), "ternecg_top", out / "direct").read_text()
    assert v_patched == v_direct

    raws = fixture.load()["raw"][:1]
    dut, results = run_top(patient, raws, dut=with_words(Accelerator(default, 1, debug=True)))
    compared, _ = compare(patient, dut, raws, results)
    assert compared > 1000


@pytest.mark.slow
@pytest.mark.fpga
def test_refusals(ice_build, tmp_path):
    from ternecg.golden.spec import modelfile
    rc, _, err = cli("--board", "icebreaker", "--model", "models/six_class.json", "--out", ROOT)
    one_line_error(rc, err, "another topology", "config differs in: layers", "make synth")
    rc, _, err = cli("--board", "icebreaker", "--model", "models/inter_patient.json", "--out", ROOT)
    one_line_error(rc, err, "another topology", "config differs in: rr_bits, rr_local", "make synth")
    doc = json.loads((REPO / PATIENT).read_text())
    doc["layers"][-1]["bias"] = [100000, -3]              # a wider logit: other hardware
    doc["sha256"] = modelfile.checksum(doc)
    wide = tmp_path / "wide_bias.json"
    wide.write_text(json.dumps(doc))
    rc, _, err = cli("--board", "icebreaker", "--model", str(wide), "--out", ROOT)
    one_line_error(rc, err, "other hardware widths", "logit_width 14 -> 19")
    doc["layers"][-1]["bias"] = [7, -3]                   # biases that fit: patched like weights
    doc["sha256"] = modelfile.checksum(doc)
    fits = REPO / ROOT / "small_bias.json"
    fits.write_text(json.dumps(doc))
    rc, out, err = cli("--board", "icebreaker", "--model", str(fits.relative_to(REPO)), "--out", ROOT)
    assert rc == 0, err
    # a routed design that is not the one generated now (e.g. hw/ changed since the build)
    mpath = REPO / ROOT / "icebreaker" / P.MANIFEST
    saved = mpath.read_text()
    try:
        mpath.write_text(saved.replace(json.loads(saved)["il_sha256"], "0" * 64))
        rc, _, err = cli("--board", "icebreaker", "--model", PATIENT, "--out", ROOT)
        one_line_error(rc, err, "differs from the routed icebreaker build", "make synth")
    finally:
        mpath.write_text(saved)


@pytest.mark.slow
@pytest.mark.fpga
def test_verify_refuses_changes_outside_the_parameter_roms(ice_build):
    from ternecg.golden.spec import modelfile
    from ternecg.hw import params
    r = _patch("icebreaker")
    bdir = REPO / ROOT / "icebreaker"
    manifest = json.loads((bdir / P.MANIFEST).read_text())
    widths = {n: m["width"] for n, m in manifest["roms"].items()}
    locs = {n: m["slices"] for n, m in manifest["roms"].items()}
    top, roms = P.board_top("icebreaker", modelfile.load(PATIENT), 1, manifest["baud"])
    images = params.images(roms)
    before = (bdir / P.ICE40.placeholder).read_text()
    after = (REPO / r["routed"]).read_text()
    P.verify(P.ICE40, before, after, locs, images, widths)
    param_brams = {row[2].split(":")[0] for v in locs.values() for row in v}
    lines = after.split("\n")
    k = next(i for i, l in enumerate(lines)
             if l.startswith(".ram_data ") and ",".join(l.split()[1:3]) not in param_brams)
    lines[k + 1] = ("1" if lines[k + 1][0] != "1" else "2") + lines[k + 1][1:]
    with pytest.raises(TernEcgError, match="outside the parameter ROMs"):
        P.verify(P.ICE40, before, "\n".join(lines), locs, images, widths)
    lines = after.split("\n")
    k = next(i for i, l in enumerate(lines) if l.startswith(".logic_tile"))
    lines[k + 1] = ("1" if lines[k + 1][0] == "0" else "0") + lines[k + 1][1:]
    with pytest.raises(TernEcgError, match="more than block RAM contents"):
        P.verify(P.ICE40, before, "\n".join(lines), locs, images, widths)
    P.rtlil("icebreaker", top)                   # elaborated (no unused-design warning)
