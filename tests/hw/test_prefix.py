"""`ternecg verilog --name NAME`: every module of the core is NAME or NAME_..., so two cores coexist.

Two different cores (the default model at P = 6 and the inter-patient model with its RR path at
P = 3) are generated under two names, compiled together with a plain Verilog testbench that
instantiates both, and simulated on Icarus with real beats; every result, decoded with the bit
fields of its manifest (the RR words packed with them too), equals the integer reference.
"""

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch

from ternecg.errors import TernEcgError
from ternecg.golden import fixture, integer_ref
from ternecg.golden.spec import modelfile
from ternecg.hw.generate import generate
from ternecg.hw.verilog import flatten_module_names, module_names

CORES = (  # (name, model file, parallel, beats)
    ("ecg_a", "default.json", 6, 2),
    ("ecg_b", "inter_patient.json", 3, 2),
)


def field(fields, name):
    return next(f for f in fields if f["name"] == name)


def decode(word, fields):
    """``{field name: value}`` of an integer payload, two's complement where ``signed``."""
    out = {}
    for f in fields:
        v = (word >> f["offset"]) & ((1 << f["width"]) - 1)
        if f["signed"] and v >> (f["width"] - 1):
            v -= 1 << f["width"]
        out[f["name"]] = v
    return out


def encode(values, fields):
    return sum((int(values[f["name"]]) & ((1 << f["width"]) - 1)) << f["offset"] for f in fields)


def core_block(name, man, beats, has_rr):
    """Verilog for one core inside the testbench: its sample (and RR) memories, instance and sink."""
    s = man["streams"]
    w_i, w_o = s["i"]["width"], s["o"]["width"]
    rr_decl = rr_ports = rr_logic = ""
    if has_rr:
        w_rr = s["rr"]["width"]
        rr_decl = f"""
  reg [{w_rr - 1}:0] {name}_rr [0:{beats - 1}];
  integer {name}_rr_sent = 0;
  wire {name}_rr_valid = !rst && {name}_rr_sent < {beats};
  wire {name}_rr_ready;"""
        rr_ports = f""",
    .rr__valid({name}_rr_valid), .rr__ready({name}_rr_ready), .rr__payload({name}_rr[{name}_rr_sent])"""
        rr_logic = f"""
    if ({name}_rr_valid && {name}_rr_ready) {name}_rr_sent <= {name}_rr_sent + 1;"""
    return f"""
  reg [{w_i - 1}:0] {name}_x [0:{beats * 240 - 1}];
  integer {name}_sent = 0, {name}_got = 0;
  wire {name}_i_valid = !rst && {name}_sent < {beats * 240};
  wire {name}_i_ready, {name}_o_valid;
  wire {name}_o_ready = cycle[1:0] != 2'd0;             // back-pressure: ready 3 cycles of 4
  wire [{w_o - 1}:0] {name}_o_payload;
  wire [31:0] {name}_model_id;{rr_decl}
  {name} core_{name} (
    .clk(clk), .rst(rst),
    .i__valid({name}_i_valid), .i__ready({name}_i_ready), .i__payload({name}_x[{name}_sent]),
    .o__valid({name}_o_valid), .o__ready({name}_o_ready), .o__payload({name}_o_payload),
    .model_id({name}_model_id){rr_ports}
  );
  always @(posedge clk) if (!rst) begin
    if ({name}_i_valid && {name}_i_ready) {name}_sent <= {name}_sent + 1;{rr_logic}
    if ({name}_o_valid && {name}_o_ready) begin
      $fwrite(fd, "{name} %h\\n", {name}_o_payload);
      {name}_got <= {name}_got + 1;
    end
  end
"""


def tb_verilog(cores):
    blocks = "".join(core_block(name, man, n, man["rr"] is not None) for name, man, n in cores)
    loads = "".join(f'    $readmemh("{name}_x.hex", {name}_x);\n' for name, _, _ in cores)
    loads += "".join(f'    $readmemh("{name}_rr.hex", {name}_rr);\n' for name, man, _ in cores if man["rr"])
    done = " && ".join(f"{name}_got == {n}" for name, _, n in cores)
    ids = "".join(f'      $fwrite(fd, "{name}_id %h\\n", {name}_model_id);\n' for name, _, _ in cores)
    return f"""`timescale 1ns/1ps
module tb;
  reg clk = 1'b0;
  reg rst = 1'b1;
  reg [63:0] cycle = 64'd0;
  integer fd;
  always #5 clk = ~clk;
{blocks}
  initial begin
{loads}    fd = $fopen("results.txt", "w");
    repeat (4) @(posedge clk);
    rst <= 1'b0;
  end
  always @(posedge clk) begin
    cycle <= cycle + 64'd1;
    if (!rst && ({done})) begin
{ids}      $fclose(fd);
      $finish;
    end
    if (cycle > 64'd2000000) begin
      $display("timeout");
      $finish;
    end
  end
endmodule
"""


def test_flat_names_are_distinct_and_prefixed(tmp_path):
    names = {}
    for name, model, parallel, _ in CORES:
        out = generate(modelfile.MODELS_DIR / model, parallel, tmp_path, name=name)
        text = out["verilog"].read_text()
        mods = module_names(text)
        assert mods[0] == name and all(m.startswith(name + "_") for m in mods[1:]), mods
        assert out["manifest_data"]["modules"] == mods
        assert "module \\" not in text                # no escaped module name left ...
        assert not any(line.lstrip().startswith("\\" + name + ".") for line in text.splitlines())  # ... nor instance type
        names[name] = set(mods)
    a, b = names.values()
    assert not a & b


def test_flatten_renames_modules_only():
    text = ("module top(a);\n  input a;\n  wire \\top.x.y ;\n  \\top.sub  sub (\n    .a(a)\n  );\nendmodule\n"
            "module \\top.sub (a);\n  (* hier = \"top.sub\" *)\n  input a;\n  \\top.sub.leaf  leaf (.a(a));\n"
            "endmodule\nmodule \\top.sub.leaf (a);\n  input a;\nendmodule\n")
    flat = flatten_module_names(text, "top")
    assert module_names(flat) == ["top", "top_sub", "top_sub_leaf"]
    assert "  top_sub  sub (" in flat and "  top_sub_leaf  leaf (.a(a));" in flat
    assert "wire \\top.x.y ;" in flat and '(* hier = "top.sub" *)' in flat       # not a module: kept
    clash = text + "module \\top.sub_leaf (a);\n  input a;\nendmodule\n"
    with pytest.raises(TernEcgError, match="do not flatten to distinct"):
        flatten_module_names(clash, "top")
    with pytest.raises(TernEcgError, match="not below the top"):
        flatten_module_names(text.replace("\\top.sub.leaf", "\\other.leaf"), "top")


@pytest.mark.sim
@pytest.mark.long
def test_two_cores_in_one_design_are_bit_exact(tmp_path):
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        pytest.skip("Icarus Verilog (iverilog, vvp) not installed")
    fx = fixture.load()
    rng = np.random.default_rng(18)
    sources, cores, expected = [], [], {}
    for name, model_file, parallel, beats in CORES:
        out = generate(modelfile.MODELS_DIR / model_file, parallel, tmp_path / "verilog", name=name)
        man = json.loads(out["manifest"].read_text())
        sources.append(out["verilog"])
        cores.append((name, man, beats))
        idx = np.sort(rng.choice(len(fx["raw"]), beats, replace=False))
        raw = fx["raw"][idx].astype(np.int64)
        # the i payload {sample, last}: last (the bit above the sample field) on each beat's final sample
        last = 1 << field(man["streams"]["i"]["fields"], "last")["offset"]
        words = [int(v) | (last if t == raw.shape[1] - 1 else 0) for row in raw for t, v in enumerate(row)]
        (tmp_path / f"{name}_x.hex").write_text("".join(f"{w:x}\n" for w in words))
        model = modelfile.load(modelfile.MODELS_DIR / model_file)
        rr = None
        if man["rr"]:
            rr = fx["rr"][idx].astype(np.int64)
            fields = man["streams"]["rr"]["fields"]
            words = [encode(dict(zip(man["rr"]["features"], codes)), fields) for codes in rr.tolist()]
            (tmp_path / f"{name}_rr.hex").write_text("".join(f"{w:x}\n" for w in words))
        tr = integer_ref.forward(model, torch.as_tensor(raw), None if rr is None else torch.as_tensor(rr))
        expected[name] = (tr.cls.tolist(), tr.logits.tolist(), man)
    (tmp_path / "tb.v").write_text(tb_verilog(cores))
    subprocess.run(["iverilog", "-g2005", "-o", "sim.vvp", "-s", "tb", "tb.v", *map(str, sources)],
                   cwd=tmp_path, check=True, capture_output=True, text=True)
    run = subprocess.run(["vvp", "-n", "sim.vvp"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert "timeout" not in run.stdout, run.stdout[-2000:]
    lines = [line.split() for line in (tmp_path / "results.txt").read_text().splitlines()]
    for name, (cls, logits, man) in expected.items():
        fields = man["streams"]["o"]["fields"]
        got = [decode(int(word, 16), fields) for who, word in lines if who == name]
        assert [g["cls"] for g in got] == cls and not any(g["err"] for g in got), name
        n = len(man["model"]["classes"])
        assert [[g[f"logits[{k}]"] for k in range(n)] for g in got] == logits, name
        ids = [int(word, 16) for who, word in lines if who == f"{name}_id"]
        assert ids == [man["model"]["id"]], name
    widths = [field(m["streams"]["o"]["fields"], "logits[0]")["width"] for _, m, _ in cores]
    assert widths[0] != widths[1]           # different result layouts, each decoded with its own manifest
