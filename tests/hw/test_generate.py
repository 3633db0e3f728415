"""`ternecg verilog`: deterministic Verilog + a manifest that matches it (every shipped model, the RR
model in every check), atomic outputs, and one-line errors for bad input and oversized models."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from ternecg.errors import TernEcgError
from ternecg.golden.spec import modelfile
from ternecg.golden.spec.config import MuxSpec, parse_config
from ternecg.hw import generate as gen
from ternecg.hw.generate import generate
from ternecg.hw.params import model_id
from ternecg.hw.schedule import MAX_PARALLEL, check_parallel

MODELS = modelfile.MODELS_DIR
CASES = [("default.json", 1), ("six_class.json", 3), ("inter_patient.json", 2), ("inter_patient.json", 6)]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """{(model file, P): (manifest dict, Verilog text)} for every case, generated once."""
    root = tmp_path_factory.mktemp("verilog")
    out = {}
    for name, p in CASES:
        r = generate(MODELS / name, p, root / name.split(".")[0])
        out[(name, p)] = (json.loads(r["manifest"].read_text()), r["verilog"].read_text())
    return out


def verilog_ports(text, module):
    """{port: (direction, width, signed)} from the port declarations of ``module`` (own parser)."""
    body = text[text.index(f"module {module}("):]
    body = body[:body.index("endmodule")]
    ports = {}
    for d, signed, hi, lo, name in re.findall(r"^\s*(input|output)\s+(signed\s+)?(?:\[(\d+):(\d+)\]\s*)?(\w+)\s*;",
                                              body, re.M):
        ports[name] = ("in" if d == "input" else "out", int(hi) - int(lo) + 1 if hi else 1, bool(signed))
    return ports


def verilog_memories(text):
    """{(module, memory): (width, depth)} of every ``reg [..] m [..];`` (own parser)."""
    out = {}
    for block in text.split("\nmodule ")[1:]:
        module = block.split("(", 1)[0].strip()
        for hi, lo, name, d0, d1 in re.findall(r"^\s*reg\s+(?:signed\s+)?(?:\[(\d+):(\d+)\]\s*)?([\w$\\.]+)\s*\[(\d+):(\d+)\]\s*;",
                                               block, re.M):
            out[(module, name)] = (int(hi) - int(lo) + 1 if hi else 1, int(d0) - int(d1) + 1)
    return out


@pytest.mark.slow
def test_verilog_and_manifest_are_byte_identical(tmp_path):
    for name, p in (("default.json", 2), ("inter_patient.json", 3)):
        a = generate(MODELS / name, p, tmp_path / "a")
        b = generate(MODELS / name, p, tmp_path / "b")
        assert a["verilog"].read_bytes() == b["verilog"].read_bytes()
        assert a["manifest"].read_bytes() == b["manifest"].read_bytes()
        assert a["verilog"] == tmp_path / "a" / f"ternecg_top_p{p}" / "ternecg_top.v"
        assert sorted(f.name for f in a["verilog"].parent.iterdir()) == ["ternecg_top.json", "ternecg_top.v"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0].split('.')[0]}-p{c[1]}" if isinstance(c, tuple) else c)
def test_manifest_matches_the_verilog(outputs, case):
    man, text = outputs[case]
    assert man["manifest_version"] == gen.MANIFEST_VERSION and man["top"] == "ternecg_top"
    # every port: direction, width and signedness as declared in the netlist
    declared = verilog_ports(text, "ternecg_top")
    listed = {p["name"]: (p["direction"], p["width"], p["signed"]) for p in man["ports"]}
    assert listed == declared
    # every stream: its ports exist, its fields tile the payload port LSB first
    model = modelfile.load(MODELS / case[0])
    assert set(man["streams"]) == ({"i", "o", "rr"} if model.cfg.rr_bits else {"i", "o"})
    for name, s in man["streams"].items():
        assert declared[s["payload"]][1] == s["width"]
        assert declared[s["valid"]][0] == s["direction"] and declared[s["ready"]][0] != s["direction"]
        offset = 0
        for f in s["fields"]:
            assert f["offset"] == offset and f["width"] >= 1
            offset += f["width"]
        assert offset == s["width"], name
    # the samples: {sample, last}; the result: cls, logits[0..n-1], cycles, err; logits as wide
    # as the manifest says and signed
    assert man["streams"]["i"]["fields"] == [{"name": "sample", "offset": 0, "width": 11, "signed": False},
                                             {"name": "last", "offset": 11, "width": 1, "signed": False}]
    n = len(model.cfg.classes)
    fields = man["streams"]["o"]["fields"]
    assert [f["name"] for f in fields] == ["cls"] + [f"logits[{k}]" for k in range(n)] + ["cycles", "err"]
    assert fields[-1]["width"] == 1 and fields[-2]["width"] == man["cycles_per_beat"]["worst"].bit_length()
    logits = fields[1:1 + n]
    assert all(f["signed"] and f["width"] == man["parameters"]["logit_width"] for f in logits)
    assert not fields[0]["signed"] and 2 ** fields[0]["width"] >= n
    # memories and modules as in the netlist
    assert {(m["module"], m["memory"]): (m["width"], m["depth"]) for m in man["memories"]} == verilog_memories(text)
    assert man["modules"] == [m.split("(")[0].strip() for m in text.split("\nmodule ")[1:]]
    roms = [m["parameter_rom"] for m in man["memories"] if m["parameter_rom"]]
    assert {"engine.weights", "engine.params"} <= set(roms)
    assert all(m["kind"] == "ROM" for m in man["memories"] if m["parameter_rom"])
    # model, lanes, latency, cycles
    assert man["model"]["id"] == model_id(model.sha256) == int(model.sha256[:8], 16)
    assert man["parameters"]["parallel"] == case[1] and man["adders"] == man["lanes_asked"] == case[1]
    assert man["valid_parallel"] == list(range(1, MAX_PARALLEL + 1)) and MAX_PARALLEL == 64
    assert man["latency"]["norm"] == 6 and man["latency"]["head"] == 1
    assert man["cycles_per_beat"]["best"] < man["cycles_per_beat"]["worst"]
    assert man["macs_per_beat"] == model.cfg.macs


def test_rr_model_manifest(outputs):
    """The RR model's 18-bit logits (14 without the RR path) and the RR word: code f in bits
    [4f+3:4f], pre/local, post/local, post/pre."""
    plain, _ = outputs[("default.json", 1)]
    for p in (2, 6):
        man, _ = outputs[("inter_patient.json", p)]
        assert man["parameters"]["logit_width"] == 18 != plain["parameters"]["logit_width"] == 14
        assert man["rr"] == {"bits": 4, "features": ["pre/local", "post/local", "post/pre"], "local": 32,
                             "stream": "rr", "rules": []}
        assert man["streams"]["rr"]["fields"] == [
            {"name": "pre/local", "offset": 0, "width": 4, "signed": False},
            {"name": "post/local", "offset": 4, "width": 4, "signed": False},
            {"name": "post/pre", "offset": 8, "width": 4, "signed": False}]
        assert man["latency"]["rr_table"] == 1
        assert "rr.table" in {m["parameter_rom"] for m in man["memories"]}
        fields = man["streams"]["o"]["fields"]
        assert [(f["name"], f["offset"]) for f in fields] == [
            ("cls", 0), ("logits[0]", 1), ("logits[1]", 19), ("cycles", 37),
            ("err", 37 + man["cycles_per_beat"]["worst"].bit_length())]
    assert plain["rr"] is None


def test_valid_parallel_is_what_the_schedule_accepts(model, inter_model):
    for m in (model, inter_model):
        ok = gen.valid_parallel(m)
        for p in range(1, MAX_PARALLEL + 1):
            if p in ok:
                check_parallel(m, p)
            else:
                with pytest.raises(TernEcgError):
                    check_parallel(m, p)


def test_cycles_bound_the_fixture_beats(outputs):
    from amaranth.hdl import Fragment

    from ternecg.hw.top import Accelerator
    from ternecg.sim.cycles import fixture_cycles
    for name, p in (("default.json", 1), ("inter_patient.json", 6)):
        man, _ = outputs[(name, p)]
        model = modelfile.load(MODELS / name)
        acc = Accelerator(model, p)
        Fragment.get(acc, None)                     # elaborated (an Elaboratable must be used)
        measured = fixture_cycles(acc, model)
        assert man["cycles_per_beat"]["best"] <= measured["min"] <= measured["max"] <= man["cycles_per_beat"]["worst"]


def test_name_prefixes_files_and_modules(tmp_path):
    r = generate(MODELS / "inter_patient.json", 1, tmp_path, name="ecg_core_a")
    assert r["verilog"] == tmp_path / "ecg_core_a_p1" / "ecg_core_a.v"
    assert r["manifest_data"]["top"] == "ecg_core_a" and r["manifest_data"]["verilog"] == "ecg_core_a.v"
    assert all(m == "ecg_core_a" or m.startswith("ecg_core_a_") for m in r["manifest_data"]["modules"])


# ---- command line ------------------------------------------------------------------------------

def cli(*args, cwd=None):
    r = subprocess.run([sys.executable, "-m", "ternecg.cli", *map(str, args)], capture_output=True, text=True,
                       cwd=cwd)
    return r.returncode, r.stderr


def one_line(code, err, *needles):
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for n in needles:
        assert n in err, err


def test_cli_writes_the_named_core(tmp_path):
    code, err = cli("verilog", "--model", MODELS / "inter_patient.json", "--parallel", 3, "--name", "ecg_b",
                    "--out", tmp_path)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "ecg_b_p3").iterdir()) == ["ecg_b.json", "ecg_b.v"]
    assert json.loads((tmp_path / "ecg_b_p3" / "ecg_b.json").read_text())["top"] == "ecg_b"


def test_cli_asic_writes_the_core_without_initial_values(tmp_path):
    code, err = cli("verilog", "--parallel", 6, "--asic", "--out", tmp_path)
    assert code == 0, err
    folder = tmp_path / "ternecg_top_p6_asic"
    man = json.loads((folder / "ternecg_top.json").read_text())
    assert man["target"] == "asic" and man["reset"]["initial_values"] is False
    assert "(* init =" not in (folder / "ternecg_top.v").read_text()


@pytest.mark.parametrize("args,needles", [
    (("--parallel", "0"), ["parallel = 0 must be an integer in 1..64"]),
    (("--parallel", "65"), ["parallel = 65 must be an integer in 1..64"]),
    (("--model", "missing.json"), ["missing.json not found"]),
    (("--name", "1core"), ["'1core' must be a plain identifier"]),
    (("--name", "ecg-core"), ["'ecg-core' must be a plain identifier"]),
    (("--name", "module"), ["'module' is a Verilog keyword"]),
])
def test_cli_rejects_bad_input_in_one_line(tmp_path, args, needles):
    one_line(*cli("verilog", "--out", tmp_path, *args), *needles)
    assert not any(tmp_path.iterdir())                  # nothing written


def test_cli_rejects_a_corrupt_model_file(tmp_path):
    d = json.loads(modelfile.DEFAULT_MODEL.read_text())
    d["version"] = 99
    p = tmp_path / "v99.json"
    p.write_text(json.dumps(d))
    one_line(*cli("verilog", "--model", p, "--out", tmp_path / "out"), "unknown file version 99")
    assert not (tmp_path / "out").exists()


def test_cli_output_folder_under_a_file(tmp_path):
    f = tmp_path / "a_file"
    f.write_text("not a folder")
    one_line(*cli("verilog", "--out", f / "sub"), f"{f} is a file, not a folder")
    one_line(*cli("verilog", "--out", f), f"{f} is a file, not a folder")
    assert f.read_text() == "not a folder"


def test_cli_unwritable_output_folder(tmp_path):
    import os
    if os.geteuid() == 0:
        pytest.skip("running as root: a read-only folder is still writable")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        one_line(*cli("verilog", "--out", ro), "cannot write the outputs into")
    finally:
        ro.chmod(0o700)


def test_failure_leaves_no_verilog_without_manifest(tmp_path, monkeypatch):
    """A failure after the Verilog exists (here: writing the manifest) leaves the folder as it was:
    the previous pair intact, no new file, no temporary file."""
    good = generate(None, 1, tmp_path)
    before = {p.name: p.read_bytes() for p in good["verilog"].parent.iterdir()}

    def fail(*a, **k):
        raise TernEcgError("injected failure")
    monkeypatch.setattr(gen, "manifest", fail)
    with pytest.raises(TernEcgError, match="injected"):
        generate(MODELS / "inter_patient.json", 1, tmp_path)
    assert {p.name: p.read_bytes() for p in good["verilog"].parent.iterdir()} == before
    monkeypatch.undo()

    # the second rename fails (the Verilog is in place by then): both are rolled back
    real_replace = gen.os.replace
    for folder, existing in ((tmp_path / "new", False), (tmp_path, True)):
        calls = []

        def replace_fails(src, dst):
            calls.append(dst)
            if len(calls) == (4 if existing else 2):        # existing pair: 2 backups, then 2 renames
                raise OSError(28, "No space left on device")
            return real_replace(src, dst)
        monkeypatch.setattr(gen.os, "replace", replace_fails)
        with pytest.raises(TernEcgError, match="No space left on device"):
            generate(MODELS / "inter_patient.json", 1, folder)
        monkeypatch.undo()
        left = {p.name: p.read_bytes() for p in (folder / "ternecg_top_p1").iterdir()}
        assert left == (before if existing else {}), sorted(left)


# ---- size limits ---------------------------------------------------------------------------------

def synthetic_model(path, config, seed=0):
    """A valid model file of ``config`` with random ternary weights and thresholds."""
    cfg = parse_config(config)
    rng = np.random.default_rng(seed)
    b = cfg.act_bits

    def entry(spec, index):
        xmax = modelfile.input_bound(b, index)
        codes = [rng.integers(-1, 2, (spec.cin_g, spec.kernel_of(o))) for o in range(spec.cout)]
        acc = modelfile.acc_bits_needed(codes, xmax)
        if spec.final:
            return modelfile.encode_conv(spec, codes, bias=np.zeros(spec.cout, np.int64), acc_bits=acc)
        lim = min(20, 1 << (acc - 1))
        th = np.sort(rng.integers(-lim, lim + 1, (spec.cout, (1 << b) - 1)), axis=1)
        return modelfile.encode_conv(spec, codes, thresholds=th, acc_bits=acc)

    entries = [{"name": s.name, "dw": entry(s.dw, i), "grp": entry(s.grp, i)} if isinstance(s, MuxSpec)
               else entry(s, i) for i, s in enumerate(cfg.layers)]
    path.write_text(json.dumps(modelfile.make_document(cfg, entries, {})))
    return path


def test_cli_rejects_a_feature_map_beyond_the_bank(tmp_path):
    m = synthetic_model(tmp_path / "wide.json", {
        "name": "wide", "input_length": 4096, "act_bits": 2,
        "layers": [{"type": "conv", "conv": "regular", "out": 17, "kernel": 1},
                   {"type": "conv", "conv": "group", "groups": 17, "out": 17, "kernel": 1, "stride": 8},
                   {"type": "dense", "out": 2}]})
    one_line(*cli("verilog", "--model", m, "--out", tmp_path / "out"),
             "69,632 words", "17 channels x 4096 positions", "MAX_BANK_WORDS = 65,536")
    assert not (tmp_path / "out").exists()


def test_cli_rejects_a_rom_beyond_the_memory_limit(tmp_path):
    layers = [{"type": "conv", "conv": "regular", "out": 4096, "kernel": 1, "stride": 8}]
    layers += [{"type": "conv", "conv": "group", "groups": 4096, "out": 4096, "kernel": 1}] * 7
    m = synthetic_model(tmp_path / "deep.json", {"name": "deep", "input_length": 8, "act_bits": 4,
                                                  "layers": layers + [{"type": "dense", "out": 2}]})
    one_line(*cli("verilog", "--model", m, "--out", tmp_path / "out"),
             "threshold ROM needs", "MAX_MEMORY_BITS = 4,194,304")
    assert not (tmp_path / "out").exists()


def test_cli_rejects_an_accumulator_wider_than_24_bits(tmp_path):
    d = json.loads(modelfile.DEFAULT_MODEL.read_text())
    d["layers"][0]["acc_bits"] = 25
    d["sha256"] = modelfile.checksum(d)
    p = tmp_path / "acc25.json"
    p.write_text(json.dumps(d))
    code, err = cli("verilog", "--model", p, "--out", tmp_path / "out")
    one_line(code, err, "24")
    assert not (tmp_path / "out").exists()


def test_limits_are_checked_before_anything_is_built(tmp_path, monkeypatch):
    """check_limits runs before the Accelerator exists (a model beyond a limit never elaborates)."""
    def boom(*a, **k):
        raise AssertionError("the Accelerator was built")
    monkeypatch.setattr(gen, "Accelerator", boom)
    with pytest.raises(TernEcgError, match="MAX_BANK_WORDS"):
        gen.generate(synthetic_model(tmp_path / "wide.json", {
            "name": "wide", "input_length": 4096, "act_bits": 2,
            "layers": [{"type": "conv", "conv": "regular", "out": 17, "kernel": 1},
                       {"type": "dense", "out": 2}]}), 1, tmp_path / "out")
    assert gen.LIMITS == {"parallel": 64, "acc_bits": 24, "bank_words": 65536, "memory_bits": 1 << 22,
                          "weights": 1 << 20}
