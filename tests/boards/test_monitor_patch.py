"""Bitstream patching of the monitor build (``make patch APP=monitor``): on a real iCEBreaker
monitor build (slow: one build, shared by this module's tests) the build's bitstream holds its
model's parameter ROM images, another patient's four-class model is patched in without place and
route (models/aami4_patient/100.json) and the patched bitstream holds exactly that model's images, the
ROM words read back giving the design generated for it; a model of another topology is refused
in one line. The same checks as tests/boards/test_patch.py's for the beat classifier."""

import json
import os
from pathlib import Path

import pytest

from ternecg.boards import patch as P
from ternecg.boards.top import default_model
from test_patch import REPO, _images, _ram_words, cli, one_line_error

ROOT = "build/test_monitor_patch"
BUILD = "icebreaker-monitor"


def patient_model() -> str:
    """Another patient's model of the monitor build's topology (the build's default model is
    models/aami4_inter.json; its patients' models are fine-tuned from it)."""
    assert default_model("monitor").name == "aami4_inter.json"
    return "models/aami4_patient/100.json"


@pytest.fixture(scope="module")
def monitor_build():
    from ternecg.boards.build import build
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        return build("icebreaker", root=ROOT, app="monitor", figures=False)
    finally:
        os.chdir(cwd)


def _patch(model):
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        return P.patch("icebreaker", model, root=ROOT, app="monitor")
    finally:
        os.chdir(cwd)


@pytest.mark.slow
@pytest.mark.fpga
def test_monitor_build_report(monitor_build):
    r = monitor_build
    assert r["app"] == "monitor" and r["timing_met"] and r["lc_used"] <= r["lc_total"] and r["ebr"] <= 30
    assert r["spram"] >= 2                      # the front end's RAM and the beat window's ring
    assert (REPO / r["bitstream"]).stat().st_size > 100_000
    assert Path(r["bitstream"]).parent.name == BUILD
    saved = json.loads((REPO / ROOT / BUILD / "report.json").read_text())
    assert saved["model"] == r["model"] and saved["app"] == "monitor"
    # block RAMs per memory add up to nextpnr's; the framer's frames take one (boards/framer.py)
    mem = saved["memories"]
    assert sum(mem["ebr"].values()) == r["ebr"] and sum(mem["spram"].values()) == r["spram"]
    assert mem["ebr"]["core.link.framer.rom"] == 1


@pytest.mark.slow
@pytest.mark.fpga
def test_patient_model_patched_into_the_monitor(monitor_build):
    fam = P.ICE40
    bdir = REPO / ROOT / BUILD
    manifest = json.loads((bdir / P.MANIFEST).read_text())
    assert manifest["app"] == "monitor"
    ph = {n: P._read_hex(bdir / r["placeholder"]) for n, r in manifest["roms"].items()}
    assert _ram_words("icebreaker", (bdir / fam.placeholder).read_text(), manifest) == ph
    base = _images(monitor_build["model"])
    assert _ram_words("icebreaker", (bdir / fam.routed).read_text(), manifest) == base

    patient = patient_model()
    r = _patch(patient)
    assert r["app"] == "monitor" and all(r["checks"].values()) and r["seconds"] < 60
    assert Path(r["bitstream"]).parent.parent.name == BUILD
    P.unpack(fam, bdir, str(Path(r["bitstream"]).relative_to(f"{ROOT}/{BUILD}")), "check.asc")
    got = _ram_words("icebreaker", (bdir / "check.asc").read_text(), manifest)
    assert got == _images(patient) != base


@pytest.mark.slow
@pytest.mark.fpga
def test_monitor_patch_refusals(monitor_build):
    rc, _, err = cli("--board", "icebreaker", "--app", "monitor", "--model", "models/default.json", "--out", ROOT)
    one_line_error(rc, err, "another topology", "make synth BOARD=icebreaker APP=monitor")
    rc, _, err = cli("--board", "icebreaker", "--model", patient_model(), "--out", ROOT)
    one_line_error(rc, err, "no patchable icebreaker build", "make synth BOARD=icebreaker")


def test_no_monitor_build_is_one_line():
    rc, _, err = cli("--board", "icebreaker", "--app", "monitor", "--model", patient_model(),
                     "--out", "build/test_monitor_patch_none")
    one_line_error(rc, err, "no patchable icebreaker monitor build", "make synth BOARD=icebreaker APP=monitor")
