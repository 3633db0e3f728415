"""Per-patient models without place-and-route on a real ULX3S (ECP5) build: the build holds its
model, the patched bitstream the patient model's ROM images and nothing else changed (the same
check as the iCEBreaker's in test_patch.py), and ecpbram's round trip packs the identical
bitstream. A file of its own so that `make test` (``--dist loadfile``) builds the two boards in its
two workers side by side."""

import random

import pytest

from ternecg.boards import patch as P
from test_patch import REPO, ROOT, _build, check_build_and_patch


@pytest.fixture(scope="module")
def ecp_build():
    return _build("ulx3s")


@pytest.mark.slow
@pytest.mark.fpga
def test_build_holds_its_model_and_the_patient_patch_holds_the_patient(ecp_build):
    check_build_and_patch("ulx3s", ecp_build)


@pytest.mark.slow
@pytest.mark.fpga
def test_ecpbram_round_trip_packs_the_same_bitstream(ecp_build):
    """ecpbram's Trellis round trip repeats a tile name in some .tile_group lines; with no slice
    replaced, ecppack still packs the identical bitstream (so the repeat is harmless)."""
    bdir = REPO / ROOT / "ulx3s"
    rng = random.Random(3)
    nothing = [(rng.getrandbits(512), rng.getrandbits(512)) for _ in range(4)]     # found nowhere
    P.swap(P.ECP5, bdir, "placeholder.config", "params/work/noop.config", nothing)
    assert (bdir / "params/work/noop.config").read_text() != (bdir / "placeholder.config").read_text()
    P.pack(P.ECP5, bdir, "placeholder.config", "params/work/a.bit")
    P.pack(P.ECP5, bdir, "params/work/noop.config", "params/work/b.bit")
    assert (bdir / "params/work/a.bit").read_bytes() == (bdir / "params/work/b.bit").read_bytes()


@pytest.mark.slow
@pytest.mark.fpga
def test_ulx3s_maps_to_lut4_only(ecp_build):
    """The ULX3S build runs ``synth_ecp5 -nowidelut`` (boards/top.py): its netlist has LUT4s and no
    wide-function muxes (PFUMX, L6MUX21), which cost up to eight LUT4s per 5-7 input function."""
    bdir = REPO / ROOT / "ulx3s"
    assert "synth_ecp5 -nowidelut -top top" in (bdir / "top.ys").read_text()
    stats = (bdir / "top.rpt").read_text().split("Printing statistics")[-1]
    assert " LUT4" in stats and "PFUMX" not in stats and "L6MUX21" not in stats
