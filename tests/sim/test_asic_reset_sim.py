"""`ternecg verilog --asic` (issue 18 item 7): no initial values on registers and RAMs, the reset is
the only way into a known state.

* The ASIC text is the FPGA text without its initial values, nothing else: every ``reg x = v;``
  loses its ``= v`` and every RAM its ``initial`` block; ROMs (the model) keep theirs; byte-identical
  across runs. (Fast, no simulator.)
* On Icarus, where a register or RAM word without an initial value starts as X: after a reset the
  core classifies real beats bit-exact (class, logits, cycles) with ``o.valid`` and the result
  never X; the RAMs need no reset because no unwritten word is ever used (an X would propagate
  into the logits); without a reset the core never shows a valid result (``o.valid`` stays X).
"""

import re
import shutil
import subprocess

import numpy as np
import pytest
import torch

from ternecg.golden import fixture, integer_ref
from ternecg.golden.spec import modelfile
from ternecg.hw.generate import generate

PARALLEL = 6
BEATS = 2

#: a plain Verilog bench: reset (unless +noreset), the beats from beats.hex back to back, every
#: result into results.txt, and per cycle after reset whether o.valid was 0, 1 or X and whether a
#: result had X bits
BENCH = """`timescale 1ns/1ps
module tb;
  parameter N = 1;
  parameter L = 240;
  parameter W = 8;
  parameter CYCLES = 100000;
  reg clk = 1'b0;
  reg rst = 1'b0;
  always #5 clk = ~clk;
  reg [11:0] x [0:N*L-1];
  integer sent = 0, got = 0, cycle = 0, fd, noreset;
  integer v0 = 0, v1 = 0, vx = 0, px = 0;
  wire i_ready, o_valid;
  wire [W-1:0] o_payload;
  wire [31:0] model_id;
  wire i_valid = !rst && sent < N*L;
  top core (.clk(clk), .rst(rst), .i__valid(i_valid), .i__ready(i_ready), .i__payload(x[sent]),
            .o__valid(o_valid), .o__ready(1'b1), .o__payload(o_payload), .model_id(model_id));
  always @(posedge clk) if (!rst) begin
    cycle <= cycle + 1;
    if (i_valid && i_ready === 1'b1) sent <= sent + 1;
    if (o_valid === 1'b1) begin
      v1 = v1 + 1;
      if (^o_payload === 1'bx) px = px + 1;
      $fwrite(fd, "%h\\n", o_payload);
      got <= got + 1;
    end else if (o_valid === 1'b0) v0 = v0 + 1;
    else vx = vx + 1;
    if (got == N || cycle == CYCLES) begin
      $fwrite(fd, "valid0 %0d valid1 %0d validx %0d payloadx %0d\\n", v0, v1, vx, px);
      $fclose(fd);
      $finish;
    end
  end
  initial begin
    $readmemh("beats.hex", x);
    fd = $fopen("results.txt", "w");
    noreset = $test$plusargs("noreset");
    if (!noreset) begin
      rst = 1'b1;
      repeat (2) @(posedge clk);
      rst <= 1'b0;
    end
  end
endmodule
"""


@pytest.fixture(scope="module")
def cores(tmp_path_factory):
    """{"fpga" | "asic": (Verilog text, manifest)} of the default model at P = 6 (top ``top``)."""
    out = {}
    root = tmp_path_factory.mktemp("asic")
    for kind in ("fpga", "asic"):
        r = generate(None, PARALLEL, root / kind, name="top", asic=kind == "asic")
        out[kind] = (r["verilog"].read_text(), r["manifest_data"], r["verilog"])
    return out


RAM_INIT = re.compile(r"^  initial begin\n((?:    \S+\[\d+\] = \S+;\n)+)  end\n", re.M)


def without_initial_values(text, rams):
    """``text`` with ``reg ... = v;`` initialisers dropped and the ``initial`` blocks of ``rams``;
    each run of continuous assignments in sorted order (Yosys may emit a module's constant
    ``assign``s in another order when the registers have no initial values; their order has no
    meaning in Verilog)."""
    text = re.sub(r"(?:^  assign [^\n]*\n)+", lambda m: "".join(sorted(m.group(0).splitlines(True))), text,
                  flags=re.M)
    text = re.sub(r"^(\s*reg\s[^;=]*?)\s*=\s*[^;]+;", r"\1;", text, flags=re.M)
    # an escaped name (``\$132``) ends with a space before the ``;`` that an initialiser took away
    text = re.sub(r"^(\s*reg\s[^;=]*?)\s+;", r"\1;", text, flags=re.M)
    text = re.sub(r"^\s*\(\* init = [^*]*\*\)\n", "", text, flags=re.M)      # wires of registers

    def block(m):
        return "" if m.group(1).split("[", 1)[0].strip() in rams else m.group(0)
    return RAM_INIT.sub(block, text)


def test_asic_text_is_the_fpga_text_without_initial_values(cores, tmp_path):
    fpga, fman, _ = cores["fpga"]
    asic, aman, path = cores["asic"]
    assert fman["target"] == "fpga" and fman["reset"]["initial_values"] is True
    assert aman["target"] == "asic" and aman["reset"]["initial_values"] is False
    rams = {m["memory"] for m in fman["memories"] if m["kind"] == "RAM"}
    roms = {m["memory"] for m in fman["memories"] if m["kind"] == "ROM"}
    # the three feature banks, each of one or more memories (bank<b> or bank<b>_<m>)
    assert {re.match(r"bank(\d)", r).group(1) for r in rams if r.startswith("bank")} == {"0", "1", "2"}
    assert {"wrom", "params"} <= roms
    # registers: only Yosys' own trigger of `always @*` blocks keeps `= 0` (not a register); no
    # `(* init *)` attribute either
    inits = [line.strip() for line in asic.splitlines() if re.match(r"\s*reg\s[^;]*=", line)]
    assert inits and all("dump_module" in line for line in inits), inits[:3]
    assert "(* init =" not in asic and "(* init =" in fpga
    assert any("dump_module" not in line for line in fpga.splitlines() if re.match(r"\s*reg\s[^;]*=", line))
    # memories: the ROMs keep their contents, the RAMs have none
    initialised = {m.group(1).split("[", 1)[0].strip() for m in RAM_INIT.finditer(asic)}
    assert initialised == roms & {m.group(1).split("[", 1)[0].strip() for m in RAM_INIT.finditer(fpga)}
    assert not initialised & rams
    # nothing else differs
    assert without_initial_values(asic, rams) == without_initial_values(fpga, rams)
    again = generate(None, PARALLEL, tmp_path, name="top", asic=True)
    assert again["verilog"].read_bytes() == path.read_bytes()


def run_bench(tmp_path, text, manifest, raw, *, reset, cycles=100_000):
    (tmp_path / "core.v").write_text(text)
    (tmp_path / "tb.v").write_text(BENCH)
    words = [int(v) | (int(t == raw.shape[1] - 1) << 11) for row in raw for t, v in enumerate(row)]
    (tmp_path / "beats.hex").write_text("".join(f"{w:x}\n" for w in words))
    width = manifest["streams"]["o"]["width"]
    subprocess.run(["iverilog", "-g2005", "-o", "sim.vvp", "-s", "tb", f"-Ptb.N={len(raw)}",
                    f"-Ptb.W={width}", f"-Ptb.CYCLES={cycles}", "tb.v", "core.v"],
                   cwd=tmp_path, check=True, capture_output=True, text=True)
    run = subprocess.run(["vvp", "-n", "sim.vvp"] + ([] if reset else ["+noreset"]), cwd=tmp_path,
                         capture_output=True, text=True, timeout=1200)
    lines = (tmp_path / "results.txt").read_text().splitlines()
    counts = dict(zip(lines[-1].split()[::2], map(int, lines[-1].split()[1::2])))
    return lines[:-1], counts, run.stdout


def decode(word, fields):
    out = {}
    for f in fields:
        v = (word >> f["offset"]) & ((1 << f["width"]) - 1)
        if f["signed"] and v >> (f["width"] - 1):
            v -= 1 << f["width"]
        out[f["name"]] = v
    return out


needs_icarus = pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog not installed")


@pytest.mark.sim
@needs_icarus
def test_after_reset_bit_exact_from_x(cores, tmp_path):
    text, man, _ = cores["asic"]
    model = modelfile.load()
    raw = fixture.load()["raw"][:BEATS].astype(np.int64)
    tr = integer_ref.forward(model, torch.as_tensor(raw))
    lines, counts, log = run_bench(tmp_path, text, man, raw, reset=True)
    assert counts["validx"] == 0 and counts["payloadx"] == 0, (counts, log[-500:])
    assert counts["valid1"] == BEATS
    from ternecg.hw.top import Accelerator
    acc = Accelerator(model, PARALLEL)
    fields = man["streams"]["o"]["fields"]
    got = [decode(int(w, 16), fields) for w in lines]
    assert [g["cls"] for g in got] == tr.cls.tolist()
    assert [[g[f"logits[{k}]"] for k in range(2)] for g in got] == tr.logits.tolist()
    want_cycles = [acc.engine_cycles({li: v["select"][b].tolist() for li, v in tr.mux.items()})
                   for b in range(BEATS)]
    assert [g["cycles"] for g in got] == want_cycles and not any(g["err"] for g in got)
    from amaranth.hdl import Fragment
    Fragment.get(acc, None)


@pytest.mark.sim
@needs_icarus
def test_without_reset_no_valid_result(cores, tmp_path):
    """No reset: the same stimulus for as long as the beats take with a reset: o.valid is never a
    clean 1 (it stays X). The FPGA text, with its initial values, runs without a reset."""
    raw = fixture.load()["raw"][:BEATS].astype(np.int64)
    text, man, _ = cores["asic"]
    (tmp_path / "asic").mkdir()
    lines, counts, _ = run_bench(tmp_path / "asic", text, man, raw, reset=False, cycles=40_000)
    assert counts["valid1"] == 0 and not lines
    assert counts["validx"] == 40_000 + 1
    text, man, _ = cores["fpga"]
    (tmp_path / "fpga").mkdir()
    lines, counts, _ = run_bench(tmp_path / "fpga", text, man, raw, reset=False, cycles=40_000)
    assert counts["valid1"] == BEATS and counts["validx"] == 0
