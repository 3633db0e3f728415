"""A plain-Verilog probe of a generated core (``ternecg verilog``) on Icarus, as an integrator's bench
would drive it: what docs/core.md states about reset, ``model_id``, buffering and a reset mid-beat
is measured with it (tests/sim/test_core_doc_sim.py).

Cycle numbering: the bench releases ``rst`` right after a rising edge; *cycle c* is the c-th clock
cycle after that edge (cycle 0 is the first with ``rst`` low). A transfer "in cycle c" has
``valid & ready`` during cycle c and happens at the rising edge that ends it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PROBE", "Probe", "run_probe", "words"]

PROBE = """`timescale 1ns/1ps
module probe;
  parameter WORDS = 1;
  parameter W = 8;
  parameter RESET = 2;        // cycles of rst high at the start
  parameter HOLD = 0;         // o.ready low throughout
  parameter RST_AT = -1;      // a 1-cycle reset when this many samples have been taken ...
  parameter RESUME = 0;       // ... then continue from this word
  parameter CYCLES = 100000;  // stop after this many cycles
  reg clk = 1'b0;
  reg rst = 1'b1;
  always #5 clk = ~clk;
  reg [11:0] x [0:WORDS-1];
  integer sent = 0, taken = 0, cycle = -1, fd, ready_seen = 0, resets = 0;
  reg [31:0] id_seen = 32'd0;
  wire i_ready, o_valid;
  wire [W-1:0] o_payload;
  wire [31:0] model_id;
  wire i_valid = !rst && sent < WORDS;
  top core (.clk(clk), .rst(rst), .i__valid(i_valid), .i__ready(i_ready), .i__payload(x[sent]),
            .o__valid(o_valid), .o__ready(HOLD == 0), .o__payload(o_payload), .model_id(model_id));
  always @(posedge clk) begin
    if (rst) begin
      if (cycle < 0 && (i_ready !== 1'b0 || o_valid !== 1'b0 || model_id !== 32'd0))
        $fwrite(fd, "in_reset %0d %b %b %h\\n", cycle, i_ready, o_valid, model_id);
      if (cycle >= 0) resets = resets + 1;
    end else begin
      cycle = cycle + 1;
      if (i_ready === 1'b1 && !ready_seen) begin
        $fwrite(fd, "ready %0d\\n", cycle);
        ready_seen = 1;
      end
      if (model_id !== id_seen) begin
        $fwrite(fd, "id %0d %h\\n", cycle, model_id);
        id_seen = model_id;
      end
      if (i_valid && i_ready) begin
        if (x[sent][11]) $fwrite(fd, "last %0d %0d\\n", cycle, sent);
        sent <= sent + 1;
        taken = taken + 1;
      end
      if (o_valid && HOLD == 0) $fwrite(fd, "result %0d %h\\n", cycle, o_payload);
      if (taken == RST_AT) begin
        rst <= 1'b1;
        sent <= RESUME;
        taken = taken + 1;
        $fwrite(fd, "reset %0d\\n", cycle);
      end
      if (cycle == CYCLES) begin
        $fwrite(fd, "end %0d %0d\\n", cycle, taken);
        $fclose(fd);
        $finish;
      end
    end
    if (rst && cycle >= 0 && resets == 1) begin
      rst <= 1'b0;
      resets = 0;
    end
  end
  initial begin
    $readmemh("x.hex", x);
    fd = $fopen("probe.txt", "w");
    repeat (RESET) @(posedge clk);
    rst <= 1'b0;
  end
endmodule
"""


def words(beats):
    """The ``i`` payloads of ``beats`` (lists of raw samples of any length): ``last`` (bit 11) on
    each one's final sample."""
    return [int(v) | (int(t == len(b) - 1) << 11) for b in beats for t, v in enumerate(b)]


@dataclass
class Probe:
    ready: int | None = None                        # first cycle with i.ready high
    ids: list = field(default_factory=list)         # (cycle, model_id) at each change
    lasts: list = field(default_factory=list)       # (cycle, word index) of each last sample taken
    results: list = field(default_factory=list)     # (cycle, payload)
    resets: list = field(default_factory=list)      # cycle of each mid-run reset
    in_reset: list = field(default_factory=list)    # anything not idle during the first reset
    end: tuple = ()                                 # (cycle, samples taken)


def run_probe(folder: Path, verilog: Path, width: int, xs, *, reset=2, hold=False, rst_at=-1,
              resume=0, cycles=100_000) -> Probe:
    """Compile ``verilog`` (top module ``top``) with the probe and run it on the words ``xs``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "probe.v").write_text(PROBE)
    (folder / "x.hex").write_text("".join(f"{w:x}\n" for w in xs))
    params = {"WORDS": len(xs), "W": width, "RESET": reset, "HOLD": int(hold), "RST_AT": rst_at,
              "RESUME": resume, "CYCLES": cycles}
    subprocess.run(["iverilog", "-g2005", "-o", "probe.vvp", "-s", "probe",
                    *[f"-Pprobe.{k}={v}" for k, v in params.items()], "probe.v", str(verilog)],
                   cwd=folder, check=True, capture_output=True, text=True)
    subprocess.run(["vvp", "-n", "probe.vvp"], cwd=folder, check=True, capture_output=True, text=True,
                   timeout=3600)
    p = Probe()
    for line in (folder / "probe.txt").read_text().splitlines():
        kind, *rest = line.split()
        if kind == "ready":
            p.ready = int(rest[0])
        elif kind == "id":
            p.ids.append((int(rest[0]), int(rest[1], 16)))
        elif kind == "last":
            p.lasts.append((int(rest[0]), int(rest[1])))
        elif kind == "result":
            p.results.append((int(rest[0]), int(rest[1], 16)))
        elif kind == "reset":
            p.resets.append(int(rest[0]))
        elif kind == "in_reset":
            p.in_reset.append(rest)
        elif kind == "end":
            p.end = (int(rest[0]), int(rest[1]))
    return p
