"""A plain (non-editable) install works from any directory (issue 16 item 5).

``pip install --no-deps --no-build-isolation --target <site> .`` copies the package with its data
(models, fixtures, configs, cocotb benches, harness C++); then ``ternecg verilog`` and a quick
``ternecg demo --beats 2 --simulator icarus --no-bitstream`` run with ``PYTHONPATH=<site>`` from another directory
(under build/, as the YoWASP tools cannot see /tmp), find nothing of the checkout and write their
outputs below that directory.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "build" / "test_install"


@pytest.fixture(scope="module")
def site():
    shutil.rmtree(ROOT, ignore_errors=True)
    target = ROOT / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--target", str(target), str(REPO)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return target


def run(site, workdir, *argv, script=False, timeout=900):
    """Run the installed ternecg in ``workdir`` with only ``site`` on the path."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("TERNECG_BUILD", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    cmd = [str(site / "bin" / "ternecg"), *argv] if script else [sys.executable, "-m", "ternecg.cli", *argv]
    return subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_installed_package_is_not_the_checkout(site):
    r = subprocess.run(
        [sys.executable, "-c", "import ternecg, ternecg.paths as p; print(ternecg.__file__); print(p.CHECKOUT); "
                               "print(p.models_dir()); print(p.configs_dir()); print(p.fixtures_dir())"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True, text=True, timeout=60)
    lines = r.stdout.splitlines()
    assert r.returncode == 0, r.stderr
    assert lines[0].startswith(str(site)) and lines[1] == "None"
    for folder in lines[2:]:
        assert folder.startswith(str(site)) and any(Path(folder).iterdir())


def test_every_model_config_and_fixture_file_is_installed(site):
    """The package data globs (pyproject.toml) cover every shipped file: models (the four-class
    patient folder included), configs, fixtures, the harness C++."""
    def files(root, pattern):
        return {str(f.relative_to(root)) for f in root.glob(pattern) if f.is_file()}
    for checkout, installed, pattern in ((REPO / "models", site / "ternecg" / "models", "**/*.json"),
                                         (REPO / "models", site / "ternecg" / "models", "**/*.pt"),
                                         (REPO / "golden" / "configs", site / "ternecg" / "golden" / "configs", "*.json"),
                                         (REPO / "fixtures", site / "ternecg" / "fixtures", "*.npz"),
                                         (REPO / "sim" / "cpp", site / "ternecg" / "sim" / "cpp", "*.cpp")):
        want = files(checkout, pattern)
        assert want and want <= files(installed, pattern), (pattern, sorted(want - files(installed, pattern))[:5])


def test_installed_verilog_from_another_directory(site, tmp_path):
    work = ROOT / "work_verilog"
    r = run(site, work, "verilog", "--parallel", "2", script=True)
    assert r.returncode == 0, r.stderr
    out = work / "build" / "verilog" / "ternecg_top_p2"
    from ternecg.golden.spec import modelfile
    manifest = (out / "ternecg_top.json").read_text()
    json.loads(manifest)
    assert modelfile.load().sha256 in manifest                       # the shipped default model ...
    assert str(site / "ternecg" / "models" / "default.json") in manifest   # ... read from the installed copy
    assert "module ternecg_top" in (out / "ternecg_top.v").read_text()
    # the installed copy generates exactly what the checkout generates
    from ternecg.hw.generate import generate
    here = generate(None, 2, tmp_path)
    assert Path(here["verilog"]).read_bytes() == (out / "ternecg_top.v").read_bytes()
    # its errors are one line too
    r = run(site, work, "verilog", "--model", "nope.json")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "nope.json not found" in r.stderr


@pytest.mark.slow
@pytest.mark.sim
@pytest.mark.long
def test_installed_quick_demo_from_another_directory(site):
    """`ternecg demo --beats 2 --parallel 6 --simulator icarus --monitor-seconds 20 --no-bitstream`:
    Verilog, then 2 fixture beats on Icarus through the installed cocotb bench, 0 mismatches, and
    the live monitor on the first 20 s of the installed excerpt in the Verilator speed harness
    (the installed sim/cpp), 0 mismatches. Icarus builds in seconds: one Verilator build instead
    of two (the cocotb bench on Verilator runs from the checkout in tests/sim)."""
    work = ROOT / "work_demo"
    r = run(site, work, "demo", "--beats", "2", "--parallel", "6", "--simulator", "icarus",
            "--monitor-seconds", "20", "--no-bitstream")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    rep = json.loads((work / "build" / "reports" / "demo.json").read_text())
    assert rep["beats"] == 2 and rep["mismatches"] == 0 and rep["bitstream"] is None
    assert rep["simulator"] == "icarus" and rep["monitor_sim"]["mismatches"] == 0
    assert rep["monitor_sim"]["samples"] == 20 * 360 and rep["monitor_sim"]["beats"] > 10
    assert "2 real MIT-BIH beats, 0 mismatches" in r.stdout
