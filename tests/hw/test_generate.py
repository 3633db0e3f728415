"""`make verilog`: deterministic Verilog + manifest; invalid input rejected in one line."""

import json
import subprocess
import sys

import pytest

from ternecg.golden.spec import modelfile
from ternecg.hw.generate import generate


def test_verilog_and_manifest_are_byte_identical(tmp_path):
    a = generate(None, 2, tmp_path / "a")
    b = generate(None, 2, tmp_path / "b")
    assert a["verilog"].read_bytes() == b["verilog"].read_bytes()
    ma, mb = json.loads(a["manifest"].read_text()), json.loads(b["manifest"].read_text())
    ma.pop("verilog"), mb.pop("verilog")
    assert ma == mb
    man = a["manifest_data"]
    assert man["adders"] == 2 and man["parameters"]["parallel"] == 2
    from ternecg.hw.top import Accelerator
    from ternecg.sim.cycles import fixture_cycles
    model = modelfile.load()
    assert man["cycles_per_beat"]["worst"] >= fixture_cycles(Accelerator(model, 2), model)["max"]
    assert man["macs_per_beat"] == modelfile.load().cfg.macs
    names = {p["name"] for p in man["ports"]}
    assert {"clk", "rst", "i__payload", "i__valid", "i__ready", "o__payload", "o__valid", "o__ready"} <= names
    assert "module ternecg_top" in a["verilog"].read_text()


def cli(*args):
    r = subprocess.run([sys.executable, "-m", "ternecg.cli", *args], capture_output=True, text=True)
    return r.returncode, r.stderr


@pytest.mark.parametrize("args,needle", [
    (("verilog", "--parallel", "4"), "parallel = 4 does not divide"),
    (("verilog", "--parallel", "0"), "parallel = 0 must be an integer in 1..16"),
    (("verilog", "--model", "missing.json"), "missing.json not found"),
])
def test_cli_rejects_bad_input_in_one_line(args, needle):
    code, err = cli(*args)
    assert code == 2
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_rejects_a_corrupt_model_file(tmp_path):
    d = json.loads(modelfile.DEFAULT_MODEL.read_text())
    d["version"] = 99
    p = tmp_path / "v99.json"
    p.write_text(json.dumps(d))
    code, err = cli("verilog", "--model", str(p))
    assert code == 2 and "unknown file version 99" in err and "Traceback" not in err
