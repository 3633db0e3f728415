"""The protocol fuzz (`make fuzz`): the board core against random and damaged frames, in Verilator.

The board core (:class:`~ternecg.boards.core.BoardCore`: link + accelerator, as on the board)
receives a stream of frames of every kind that docs/protocol.md talks about: valid BEATs and
PINGs, bit flips, truncated frames (then silence, or straight into the next frame), wrong
VER / TYPE / LEN, stray SOFs, UART framing errors and overruns in and between frames, beats with
out-of-range samples (or RR codes), and floods (random bytes, SOFs, bad headers). The Python
decoder of boards/protocol.py (:func:`~ternecg.boards.protocol.board_decoder`) predicts every
event of the board from the same bytes; the run checks that

* every beat the decoder accepts gets exactly one RESULT, bit-exact (class, logits and compute
  cycles) against the golden integer reference (``wrong``, ``duplicated``, ``lost_unpredicted``);
* no damaged frame gets one (``results_for_damaged``: damaged beats carry sequence numbers
  128..255, valid ones 0..127);
* every PING is answered by a STATUS with its token within ``ANSWER_CYCLES``, also during a long
  flood of bad headers (``hangs``);
* the board counts exactly the predicted error events (the last PING's STATUS ``errors``), and
  every ERROR frame it sends reports one of them, in order;

and writes ``build/reports/fuzz.json`` (``bytes``, ``frames_valid``, ``frames_damaged``,
``results_checked``, ``wrong``, ``duplicated``, ``results_for_damaged``, ``lost_unpredicted``,
``hangs``, ...).

Two levels, each a small Verilog harness around the generated board core that reads the stimulus
from a ``$readmemh`` image and writes every transmitted byte with its cycle, compiled with
Verilator and the clock-only C++ loop of the speed harness (sim/harness.py), so no Python runs
per cycle:

* ``uart=False`` (the bulk): the UART is bypassed (``BoardCore(uart=False)``); the harness drives
  the link's byte stream (a byte every 1-4 cycles) and the receiver's error pulses, and always
  takes transmitted bytes;
* ``uart=True`` (a smaller run): the real UART receiver and transmitter at ``UART_DIVISOR`` cycles
  per bit; the harness shifts bytes in as 8N1 characters on the ``rx`` pin (a framing error is a
  character with its stop bit low) and decodes the ``tx`` pin.

Timing rules of the stimulus (so that the prediction does not depend on the accelerator's
timing): a gap between two events is either short (below half the inter-byte timeout) or longer
than the timeout plus a margin (the decoder then sees :meth:`~ternecg.boards.protocol.Decoder.timeout`);
a beat the board accepts comes at least one worst-case beat computation after the previous one
(so the beat buffer is free: no BUSY), and a PING at least ``PING_SPACING`` cycles after the
previous one (so its STATUS is not merged with the previous).
"""

from __future__ import annotations

import copy
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError
from ternecg.paths import build_dir

from . import protocol as P

__all__ = ["Stimulus", "generate", "predict", "run", "fuzz", "table", "add_parser"]

BYTE, FRAMING, OVERRUN = 0, 1, 2

#: link timeout of the fuzz runs (cycles): short, so that truncated frames cost little
TIMEOUT_BYPASS = 1000
UART_DIVISOR = 8
TIMEOUT_UART = 60 * 10 * UART_DIVISOR
#: cycles between two accepted PINGs; the most a STATUS may take (else a hang), without and with
#: the UART (three frames go out before it at worst: ERROR, RESULT, STATUS)
PING_SPACING = 3000
ANSWER_CYCLES = {False: 2_000, True: 4 * 22 * 10 * UART_DIVISOR}
#: sequence numbers: valid beats 0..127, damaged beats 128..255
DAMAGED_SEQ = 128
REPORT_KEYS = ("bytes", "frames_valid", "frames_damaged", "results_checked", "wrong", "duplicated",
               "results_for_damaged", "lost_unpredicted", "hangs")
MUST_BE_ZERO = ("wrong", "duplicated", "results_for_damaged", "lost_unpredicted", "hangs")


# ---- stimulus ---------------------------------------------------------------------------------

@dataclass
class Stimulus:
    """What the harness sends and what the board must answer.

    ``events``: ``(kind, byte, gap)``, ``gap`` idle cycles (bypass) or idle line cycles (UART)
    before the event. ``beats``: per beat the decoder accepts, ``(seq, fixture index, cycle of its
    last byte)``; ``pings``: ``(token, cycle of its last byte)``; ``errors``: the predicted error
    events ``(code, detail)`` in order.
    """
    uart: bool
    timeout: int
    events: list = field(default_factory=list)
    beats: list = field(default_factory=list)
    pings: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    frames_damaged: int = 0
    cycles: int = 0

    @property
    def bytes(self):
        return sum(1 for kind, _, _ in self.events if kind == BYTE)


def event_cycles(uart: bool, kind: int, gap: int) -> int:
    """Cycles an event takes, its gap included (the harness's timing)."""
    return gap + 1 + (10 * UART_DIVISOR if uart else 0)


class _Predictor:
    """The board's receiver in Python (boards/protocol.py) over a stream of timed events."""

    def __init__(self, rr_bits, timeout, uart, n_codes=P.RR_FEATURES):
        self.decoder = P.board_decoder(rr_bits, n_codes=n_codes)
        self.rr_bits = rr_bits
        self.timeout = timeout
        self.uart = uart
        self.cycle = 0
        self.byte_cycles = []           # cycle of every byte of the frame in progress

    def feed(self, kind, value, gap):
        """One event -> list of ("error", code, detail) / ("beat", seq, len1_cycle, cycle) /
        ("ping", token, cycle)."""
        out = []
        # the line is idle for ``gap`` cycles (plus, with the UART, the character's own time
        # before its byte is out: that is the same for every character, so it cancels)
        if gap > self.timeout:
            out += [("error", e.code, e.detail) for e in self.decoder.timeout()]
        self.cycle += event_cycles(self.uart, kind, gap)
        if kind != BYTE:
            self.byte_cycles = []
            return out + [("error", e.code, e.detail) for e in self.decoder.uart_error(
                P.E_FRAMING if kind == FRAMING else P.E_OVERRUN)]
        if not self.decoder.in_frame:
            self.byte_cycles = []
        self.byte_cycles.append(self.cycle)
        for e in self.decoder.feed(bytes([value])):
            if isinstance(e, P.DecodeError):
                out.append(("error", e.code, e.detail))
            elif e.type == P.PING:
                out.append(("ping", e.payload[0], self.cycle))
            else:
                err = P.beat_error(e, self.rr_bits)
                # the board decides BUSY at the frame's LEN_HI byte
                len1 = self.byte_cycles[-(len(e.payload) + P.TRAILER + 1)]
                if err is not None:
                    out.append(("range", err.code, err.detail, len1, self.cycle))
                else:
                    out.append(("beat", e.payload[0], len1, self.cycle))
        return out


def predict(stim_events, *, rr_bits, timeout, uart, idle_after=False, n_codes=P.RR_FEATURES):
    """The board's events for ``stim_events`` (see _Predictor.feed); ``idle_after``: the line then
    stays idle beyond the timeout; ``n_codes``: RR codes per BEAT_RR (the model's)."""
    p = _Predictor(rr_bits, timeout, uart, n_codes)
    out = []
    for ev in stim_events:
        out += p.feed(*ev)
    if idle_after:
        out += [("error", e.code, e.detail) for e in p.decoder.timeout()]
    return out


class _Generator:
    def __init__(self, *, seed, raws, rr, rr_bits, timeout, uart, beat_gap, ping_spacing):
        self.rng = random.Random(seed)
        self.raws = raws
        self.rr = rr
        self.rr_bits = rr_bits
        self.n_codes = len(rr[0]) if rr_bits else P.RR_FEATURES       # the model's codes per beat
        self.uart = uart
        self.timeout = timeout
        self.beat_gap = beat_gap
        self.ping_spacing = ping_spacing
        self.pred = _Predictor(rr_bits, timeout, uart, self.n_codes)
        self.stim = Stimulus(uart=uart, timeout=timeout)
        self.seq = 0
        self.token = 0
        self.last_beat = -beat_gap
        self.last_ping = -ping_spacing
        self.beat_index = {}            # valid seq -> fixture index, for the frame in flight

    # -- frames --
    def _beat_frame(self, seq, index, bad_range=False):
        samples = [int(v) for v in self.raws[index]]
        if self.rr_bits:
            codes = [int(c) for c in self.rr[index]]
            payload = bytearray(P.beat_rr_payload(seq, codes, samples, self.rr_bits))
            if bad_range and self.rng.random() < 0.5:
                payload[1 + self.rng.randrange(self.n_codes)] = self.rng.randrange(1 << self.rr_bits, 256)
                return P.encode(P.BEAT_RR, bytes(payload))
            offset = 1 + self.n_codes
            ftype = P.BEAT_RR
        else:
            payload = bytearray(P.beat_payload(seq, samples))
            offset, ftype = 1, P.BEAT
        if bad_range:
            k = self.rng.randrange(P.WINDOW)
            payload[offset + 2 * k + 1] = self.rng.randrange(8, 256)         # sample >= 2048
        return P.encode(ftype, bytes(payload))

    def _valid_beat(self):
        index = self.rng.randrange(len(self.raws))
        seq = self.seq % DAMAGED_SEQ
        self.seq += 1
        self.beat_index[seq] = index
        return self._beat_frame(seq, index)

    def _damaged_beat(self, **kw):
        return self._beat_frame(DAMAGED_SEQ + self.rng.randrange(DAMAGED_SEQ),
                                self.rng.randrange(len(self.raws)), **kw)

    def _ping(self):
        self.token = (self.token + 1) & 0xFF
        return P.encode_ping(self.token)

    def _any_frame(self):
        return self._damaged_beat() if self.rng.random() < 0.6 else P.encode_ping(self.rng.randrange(256))

    def _gap(self):
        r = self.rng.random()
        if r < 0.9:
            return self.rng.randrange(0 if not self.uart else 0, 4)
        return self.rng.randrange(4, self.timeout // 2)

    def _bytes(self, data, errors=()):
        """Events for ``data`` with short gaps; ``errors``: {position: kind} of UART errors
        before that byte."""
        out = []
        errors = dict(errors)
        for k, b in enumerate(data):
            if k in errors:
                out.append((errors[k], 0, self._gap()))
            gap = self._gap()
            if self.uart and out and out[-1][0] == FRAMING:
                gap = max(gap, 2 * UART_DIVISOR)
            out.append((BYTE, b, gap))
        return out

    def item(self):
        """One random item: (events, damaged frames in it)."""
        rng = self.rng
        r = rng.random()
        beat_type = P.BEAT_RR if self.rr_bits else P.BEAT
        if r < 0.12:
            return self._bytes(self._valid_beat()), 0
        if r < 0.20:
            return self._bytes(self._ping()), 0
        if r < 0.27:                                      # out-of-range samples / codes
            return self._bytes(self._damaged_beat(bad_range=True)), 1
        if r < 0.40:                                      # bit flips anywhere in a frame
            f = bytearray(self._any_frame())
            for _ in range(rng.randrange(1, 4)):
                f[rng.randrange(len(f))] ^= 1 << rng.randrange(8)
            return self._bytes(f), 1
        if r < 0.50:                                      # truncated: silence, or the next frame
            f = self._any_frame()
            cut = rng.randrange(1, len(f) - 1)
            ev = self._bytes(f[:cut])
            if rng.random() < 0.5:
                ev.append((BYTE, f[cut], self.timeout + 50 + rng.randrange(200)))     # after the timeout
                ev += self._bytes(f[cut + 1:])
            return ev, 1
        if r < 0.60:                                      # wrong VER / TYPE / LEN
            f = bytearray(self._any_frame())
            which = rng.randrange(4)
            if which == 0:
                f[1] = rng.choice([0, 2, 0xFF, rng.randrange(256)]) or 2
            elif which == 1:
                f[2] = rng.choice([0, 0x81, 0x82, 0xE0, P.BEAT_RR if beat_type == P.BEAT else P.BEAT,
                                   rng.randrange(256)])
            else:
                f[3 + rng.randrange(2)] ^= 1 << rng.randrange(8)
            return self._bytes(f), 1
        if r < 0.66:                                      # stray SOF(s) before a frame
            f = self._valid_beat() if rng.random() < 0.5 else self._ping()
            return self._bytes(bytes([P.SOF] * rng.randrange(1, 3)) + f), 0
        if r < 0.76:                                      # a UART error inside a frame (or two)
            f = self._any_frame()
            kinds = [FRAMING] if self.uart else [FRAMING, OVERRUN]
            pos = {rng.randrange(len(f)): rng.choice(kinds) for _ in range(rng.randrange(1, 3))}
            return self._bytes(f, pos), 1
        if r < 0.82:                                      # a UART error between frames
            kinds = [FRAMING] if self.uart else [FRAMING, OVERRUN]
            return [(rng.choice(kinds), 0, self._gap())], 0
        if r < 0.84:                                      # a PING inside a long flood of bad headers
            n = rng.randrange(2000, 4000) if not self.uart else rng.randrange(250, 400)
            flood = [(BYTE, b, rng.randrange(2)) for b in bytes([P.SOF, rng.choice([0, 2, 9])] * (n // 2))]
            ping = [(BYTE, b, rng.randrange(2)) for b in self._ping()]
            return flood[:100] + ping + flood[100:], 0
        if r < 0.88:                                      # garbage
            return self._bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))), 0
        # floods
        n = rng.randrange(20, 600 if not self.uart else 150)
        which = rng.randrange(4)
        if which == 0:
            data = bytes(rng.randrange(256) for _ in range(n))
        elif which == 1:
            data = bytes([P.SOF] * n)
        elif which == 2:
            data = bytes([P.SOF, rng.choice([0, 2, 9, 0x55])] * (n // 2))
        else:
            data = bytes([P.SOF, P.VERSION, rng.choice([0x55, 0x81, 0xE0])] * (n // 3))
        return self._bytes(data), 0

    def add(self, events, damaged):
        """Append ``events`` (after an idle gap if needed, so that a beat or PING it completes
        keeps its distance from the previous one)."""
        for _ in range(3):
            trial = copy.deepcopy(self.pred)
            outs = [o for ev in events for o in trial.feed(*ev)]
            need = 0
            for o in outs:
                if o[0] in ("beat", "range"):
                    need = max(need, self.last_beat + self.beat_gap - o[3])
                elif o[0] == "ping":
                    need = max(need, self.last_ping + self.ping_spacing - o[2])
            if need <= 0:
                break
            kind, value, gap = events[0]
            # a long idle gap also ends any frame in progress (TIMEOUT): the item starts afresh
            events = [(kind, value, gap + max(need, self.timeout + 50))] + events[1:]
        else:
            raise AssertionError("fuzz generator: could not place an item")
        if self.uart and self.stim.events and self.stim.events[-1][0] == FRAMING:
            # after a character with a low stop bit the line is high for two bit times
            kind, value, gap = events[0]
            if gap < 2 * UART_DIVISOR:
                events = [(kind, value, 2 * UART_DIVISOR)] + events[1:]
                return self.add(events, damaged)
        self.pred = trial
        self.stim.events += events
        self.stim.frames_damaged += damaged
        for o in outs:
            if o[0] == "error":
                self.stim.errors.append((o[1], o[2]))
            elif o[0] == "range":
                self.stim.errors.append((o[1], o[2]))
                self.last_beat = o[4]
            elif o[0] == "beat":
                seq = o[1]
                self.stim.beats.append((seq, self.beat_index.get(seq, -1), o[3]))
                self.last_beat = o[3]
            elif o[0] == "ping":
                self.stim.pings.append((o[1], o[2]))
                self.last_ping = o[2]

    def finish(self):
        """A quiet gap (the last beat's result goes out), then the final PING."""
        token = (self.token + 1) & 0xFF
        self.token = token
        frame = P.encode_ping(token)
        gap = max(self.beat_gap, self.ping_spacing, self.timeout + 50)
        self.add([(BYTE, frame[0], gap)] + [(BYTE, b, 0) for b in frame[1:]], 0)
        self.stim.cycles = self.pred.cycle


def generate(*, n_bytes, seed, raws, rr=None, rr_bits=0, uart=False, beat_gap, timeout=None,
             ping_spacing=PING_SPACING) -> Stimulus:
    """A random stimulus of at least ``n_bytes`` bytes (see the module docstring): accepted beats
    ``beat_gap`` cycles apart, accepted PINGs ``ping_spacing`` apart."""
    g = _Generator(seed=seed, raws=raws, rr=rr, rr_bits=rr_bits, uart=uart, beat_gap=beat_gap,
                   ping_spacing=ping_spacing, timeout=timeout or (TIMEOUT_UART if uart else TIMEOUT_BYPASS))
    # start with a PING and a valid beat: even a short run checks both
    g.add(g._bytes(g._ping()), 0)
    g.add(g._bytes(g._valid_beat()), 0)
    while g.stim.bytes < n_bytes:
        g.add(*g.item())
    g.finish()
    return g.stim


# ---- the harness --------------------------------------------------------------------------------

_COMMON = """\
  reg rst;
  reg [2:0] rst_count;
  reg [39:0] mem [0:MAX_EVENTS-1];        // {{kind[7:0], gap[23:0], byte[7:0]}}
  reg [2047:0] events_file, out_file;
  integer n_events, fd;
  reg [31:0] idx, wait_cnt, tail;
  reg [63:0] cycle;
  wire [39:0] ev = mem[idx];
  wire [7:0] ev_kind = ev[39:32];
  wire [23:0] ev_gap = ev[31:8];
  wire [7:0] ev_byte = ev[7:0];

  initial begin
    rst = 1'b1; rst_count = 3'd0; idx = 0; wait_cnt = 0; tail = 0; cycle = 0;
    if (!$value$plusargs("events=%d", n_events)) n_events = 0;
    if (!$value$plusargs("tail=%d", tail_len)) tail_len = 1000;
    if ($value$plusargs("stimulus=%s", events_file)) $readmemh(events_file, mem, 0, n_events - 1);
    if (!$value$plusargs("out=%s", out_file)) out_file = "tx.txt";
    fd = $fopen(out_file, "w");
  end
"""

_BYPASS = """\
// Protocol fuzz harness (ternecg.boards.fuzz): the link's byte stream without the UART.
`timescale 1ns/1ps
module {harness}(clk);
  input clk;
  localparam MAX_EVENTS = {max_events};
  integer tail_len;
{common}
  reg rx_valid, rx_framing, rx_overrun;
  reg [7:0] rx_payload;
  wire rx_ready, tx_valid;
  wire [7:0] tx_payload;
  {top} dut(.clk(clk), .rst(rst), .rx__valid(rx_valid), .rx__ready(rx_ready), .rx__payload(rx_payload),
            .rx_framing(rx_framing), .rx_overrun(rx_overrun),
            .tx__valid(tx_valid), .tx__ready(1'b1), .tx__payload(tx_payload));

  initial begin rx_valid = 1'b0; rx_framing = 1'b0; rx_overrun = 1'b0; rx_payload = 8'd0; end

  always @(posedge clk) begin
    rx_valid <= 1'b0; rx_framing <= 1'b0; rx_overrun <= 1'b0;
    if (rst) begin
      rst_count <= rst_count + 3'd1;
      if (rst_count == 3'd7) rst <= 1'b0;
    end else begin
      cycle <= cycle + 64'd1;
      if (tx_valid) $fwrite(fd, "%0d %h\\n", cycle, tx_payload);
      if (idx < n_events) begin
        if (wait_cnt < ev_gap) wait_cnt <= wait_cnt + 1;
        else begin
          if (ev_kind == 0) begin rx_valid <= 1'b1; rx_payload <= ev_byte; end
          if (ev_kind == 1) rx_framing <= 1'b1;
          if (ev_kind == 2) rx_overrun <= 1'b1;
          idx <= idx + 1; wait_cnt <= 0;
        end
      end else if (tail < tail_len) tail <= tail + 1;
      else begin
        $fwrite(fd, "end %0d %0d\\n", cycle, idx);
        $fclose(fd);
        $finish;
      end
    end
  end
endmodule
"""

_UART = """\
// Protocol fuzz harness (ternecg.boards.fuzz): 8N1 characters on the board core's rx pin, the tx
// pin decoded. A framing error is a character whose stop bit is low.
`timescale 1ns/1ps
module {harness}(clk);
  input clk;
  localparam MAX_EVENTS = {max_events};
  localparam D = {divisor};
  integer tail_len;
{common}
  reg rx_pin;
  wire tx_pin;
  {top} dut(.clk(clk), .rst(rst), .rx(rx_pin), .tx(tx_pin));

  reg [3:0] bitn;                 // bit of the character being sent (0 = start .. 9 = stop)
  reg sending;
  reg [31:0] bit_timer;
  reg [3:0] tx_bit;
  reg tx_busy;
  reg [31:0] tx_timer;
  reg [7:0] tx_shift;
  initial begin rx_pin = 1'b1; sending = 1'b0; bitn = 0; bit_timer = 0; tx_busy = 1'b0; end

  always @(posedge clk) begin
    if (rst) begin
      rst_count <= rst_count + 3'd1;
      if (rst_count == 3'd7) rst <= 1'b0;
    end else begin
      cycle <= cycle + 64'd1;
      // transmit side: decode the tx pin at mid-bit
      if (!tx_busy) begin
        if (!tx_pin) begin tx_busy <= 1'b1; tx_timer <= D + D / 2 - 1; tx_bit <= 0; end
      end else if (tx_timer != 0) tx_timer <= tx_timer - 1;
      else if (tx_bit < 8) begin
        tx_shift <= {{tx_pin, tx_shift[7:1]}}; tx_bit <= tx_bit + 1; tx_timer <= D - 1;
      end else begin
        if (tx_pin) $fwrite(fd, "%0d %h\\n", cycle, tx_shift);
        else $fwrite(fd, "%0d bad\\n", cycle);
        tx_busy <= 1'b0;
      end
      // receive side: each event is an idle gap (line high), then one 10-bit character
      if (sending) begin
        if (bit_timer != 0) bit_timer <= bit_timer - 1;
        else if (bitn == 9) begin sending <= 1'b0; rx_pin <= 1'b1; idx <= idx + 1; wait_cnt <= 0; end
        else begin
          bitn <= bitn + 1; bit_timer <= D - 1;
          rx_pin <= (bitn == 8) ? (ev_kind == 0) : ev_byte[bitn];
        end
      end else if (idx < n_events) begin
        if (wait_cnt < ev_gap) wait_cnt <= wait_cnt + 1;
        else begin sending <= 1'b1; bitn <= 0; bit_timer <= D - 1; rx_pin <= 1'b0; end
      end else if (tail < tail_len) tail <= tail + 1;
      else begin
        $fwrite(fd, "end %0d %0d\\n", cycle, idx);
        $fclose(fd);
        $finish;
      end
    end
  end
endmodule
"""


def harness_verilog(top: str, harness: str, *, uart: bool, max_events: int) -> str:
    text = _UART if uart else _BYPASS
    return text.format(top=top, harness=harness, max_events=max_events, divisor=UART_DIVISOR,
                       common=_COMMON.format())


def _board_verilog(model, parallel, uart, work: Path):
    """The board core's Verilog (cached on its RTLIL: Yosys' Verilog backend is slow on it)."""
    import hashlib

    from amaranth.back import rtlil

    from ternecg.hw import verilog
    from .core import BoardCore

    divisor = UART_DIVISOR
    timeout = TIMEOUT_UART if uart else TIMEOUT_BYPASS

    def make():
        return BoardCore(model, divisor=divisor, parallel=parallel, timeout_cycles=timeout, uart=uart)
    core = make()
    name = f"fuzz_core_{model.sha256[:10]}_p{parallel}_{'uart' if uart else 'bypass'}"
    key = hashlib.sha256(rtlil.convert(core, name=name).encode()).hexdigest()
    out = work / "verilog"
    src, stamp = out / f"{name}.v", out / f"{name}.rtlil.sha256"
    if not (src.is_file() and stamp.is_file() and stamp.read_text() == key):
        stamp.unlink(missing_ok=True)
        verilog.generate(make(), name, out)
        stamp.write_text(key)
    return name, src, core


def _encode_events(events) -> str:
    for kind, value, gap in events:
        if gap >= 1 << 24:
            raise AssertionError(f"fuzz: gap {gap} does not fit the harness's 24 bits")
    return "".join(f"{kind:02x}{gap:06x}{value:02x}\n" for kind, value, gap in events)


def _frames(lines):
    """(device frames with the cycle of their first byte, end cycle) from the harness output."""
    d = P.Decoder(accept=P.DEVICE_TYPES)
    frames, end, start = [], None, 0
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "end":
            end = int(parts[1])
            continue
        cycle = int(parts[0])
        if parts[1] == "bad":
            frames.append((cycle, P.DecodeError(0xFF, 0)))
            continue
        if not d.in_frame:
            start = cycle
        for e in d.feed(bytes([int(parts[1], 16)])):
            frames.append((start, e))
    return frames, end


# ---- run and check ------------------------------------------------------------------------------

def fixture_codes(fx, cfg, seed) -> np.ndarray:
    """(n, F) RR codes for the fixture's beats and a model that reads F of them: the fixture's three
    interval codes, then, for a model that reads more (the template code and/or the irregularity
    code, golden/spec/rr.py ``feature_names``: F = 4 or 5), codes drawn from ``seed`` (the
    fixture's beats are not whole records, so neither their running template nor their
    irregularity is defined; the link carries any code, and golden classifies with the same ones)."""
    rr = np.asarray(fx["rr"], dtype=np.int64)
    extra = cfg.rr_features - rr.shape[1]
    if extra <= 0:
        return rr[:, :cfg.rr_features]
    rng = np.random.default_rng(seed)
    return np.concatenate([rr, rng.integers(0, 1 << cfg.rr_bits, (len(rr), extra))], 1)


def run(*, model=None, n_bytes=100_000, seed=1, uart=False, parallel=1, work=None) -> dict:
    """Generate, simulate and check one fuzz run; returns its report (a dict)."""
    import torch

    from ternecg.golden import fixture, integer_ref
    from ternecg.golden.spec import modelfile
    from ternecg.sim.harness import build_verilator, run_verilator

    t0 = time.time()
    m = modelfile.load(model)
    fx = fixture.load()
    raws = np.asarray(fx["raw"], dtype=np.int64)
    rr = fixture_codes(fx, m.cfg, seed) if m.cfg.rr_bits else None
    work = (Path(work) if work else build_dir("fuzz")).resolve()
    name, src, core = _board_verilog(m, parallel, uart, work)
    worst = core.accel.engine_cycles()
    beat_gap = worst + 4 * P.WINDOW + 2000
    stim = generate(n_bytes=n_bytes, seed=seed, raws=raws, rr=rr, rr_bits=m.cfg.rr_bits, uart=uart,
                    beat_gap=beat_gap)

    harness = f"{name}_harness"
    cap = 1 << max(18, (len(stim.events) - 1).bit_length())        # one build for short and long runs
    hv = work / "verilog" / f"{harness}_{cap}.v"
    text = harness_verilog(name, harness, uart=uart, max_events=cap)
    if not hv.is_file() or hv.read_text() != text:
        hv.write_text(text)
    t1 = time.time()
    binary = build_verilator([src, hv], harness, work / "sim" / f"{harness}_{cap}")
    t2 = time.time()
    run_dir = work / "runs" / f"{'uart' if uart else 'bypass'}-{seed}-{n_bytes}"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "events.hex").write_text(_encode_events(stim.events))
    out = run_dir / "tx.txt"
    out.unlink(missing_ok=True)
    tail = beat_gap + ANSWER_CYCLES[uart]
    run_verilator(binary, [f"+events={len(stim.events)}", f"+stimulus={run_dir / 'events.hex'}",
                           f"+out={out}", f"+tail={tail}"], run_dir)
    t3 = time.time()

    # golden: the accepted beats
    idx = [i for _, i, _ in stim.beats]
    want = {}
    if idx:
        uniq = sorted(set(idx))
        tr = integer_ref.forward(m, torch.as_tensor(raws[uniq]), None if rr is None else rr[uniq])
        for k, i in enumerate(uniq):
            sel = {li: v["select"][k].tolist() for li, v in tr.mux.items()}
            want[i] = (int(tr.cls[k]), [int(v) for v in tr.logits[k].tolist()],
                       core.accel.engine_cycles(sel))
    report = check(stim, out.read_text().splitlines() if out.is_file() else [], want)
    report.update(uart=uart, seed=seed, model=str(m.path), parallel=parallel, cycles=stim.cycles,
                  seconds={"generate": round(t1 - t0, 1), "build": round(t2 - t1, 1),
                           "simulate": round(t3 - t2, 1), "total": round(time.time() - t0, 1)})
    return report


def check(stim: Stimulus, lines, want) -> dict:
    """Compare the board's frames (harness output ``lines``) with the prediction; see the module
    docstring for the counts."""
    frames, end = _frames(lines)
    results = [(c, e.parse()) for c, e in frames if isinstance(e, P.Frame) and e.type == P.RESULT]
    statuses = [(c, e.parse()) for c, e in frames if isinstance(e, P.Frame) and e.type == P.STATUS]
    errors = [e.parse() for _, e in frames if isinstance(e, P.Frame) and e.type == P.ERROR]
    undecodable = sum(1 for _, e in frames if isinstance(e, P.DecodeError))

    expected = [(seq, i) for seq, i, _ in stim.beats]
    wrong = duplicated = for_damaged = checked = 0
    p = 0
    done = set()
    for _, r in results:
        if r.seq >= DAMAGED_SEQ:
            for_damaged += 1
            continue
        if p < len(expected) and r.seq == expected[p][0]:
            cls, logits, cycles = want[expected[p][1]]
            if (r.cls, r.logits, r.cycles) != (cls, logits, cycles):
                wrong += 1
            checked += 1
            done.add(p)
            p += 1
        elif any(expected[q][0] == r.seq for q in done if q >= p - 8):
            duplicated += 1
        else:
            wrong += 1
    lost = len(expected) - p

    # every PING answered, in order, within ANSWER_CYCLES (the harness counts cycles from reset)
    hangs = 0
    s = 0
    for token, cycle in stim.pings:
        while s < len(statuses) and statuses[s][0] < cycle:
            s += 1
        if (s < len(statuses) and statuses[s][1].token == token
                and statuses[s][0] - cycle <= ANSWER_CYCLES[stim.uart]):
            s += 1
        else:
            hangs += 1
    if end is None:
        hangs += 1                                        # the simulation did not finish

    # error events: counted (the last STATUS) == predicted; ERROR frames a subsequence of them
    predicted = [(c, d) for c, d in stim.errors]
    counted = statuses[-1][1].errors if statuses else None
    k = 0
    unpredicted = 0
    for e in errors:
        while k < len(predicted) and predicted[k] != (e.code, e.detail):
            k += 1
        if k == len(predicted):
            unpredicted += 1
        else:
            k += 1
    return {
        "bytes": stim.bytes, "frames_valid": len(expected), "frames_damaged": stim.frames_damaged,
        "results_checked": checked, "wrong": wrong, "duplicated": duplicated,
        "results_for_damaged": for_damaged, "lost_unpredicted": lost, "hangs": hangs,
        "pings": len(stim.pings), "statuses": len(statuses),
        "error_events_predicted": len(predicted), "error_events_counted": counted,
        "error_counts_match": counted == len(predicted) % (1 << 16),
        "error_frames": len(errors), "error_frames_unpredicted": unpredicted,
        "undecodable_device_bytes": undecodable,
        "beats_reported": statuses[-1][1].beats if statuses else None,
        "results": len(results),
    }


def ok(report: dict) -> bool:
    return (all(report[k] == 0 for k in MUST_BE_ZERO) and report["error_counts_match"]
            and report["error_frames_unpredicted"] == 0 and report["undecodable_device_bytes"] == 0
            and report["beats_reported"] == report["results"] & 0xFFFF)


def fuzz(*, model=None, n_bytes=100_000, uart_bytes=5_000, seed=1, parallel=1, out=None) -> dict:
    """The bypass run of ``n_bytes`` and the UART run of ``uart_bytes`` (0: none); writes
    ``fuzz.json`` into ``out`` (default build/reports) and returns it."""
    runs = [run(model=model, n_bytes=n_bytes, seed=seed, uart=False, parallel=parallel)]
    if uart_bytes:
        runs.append(run(model=model, n_bytes=uart_bytes, seed=seed + 1, uart=True, parallel=parallel))
    report = {k: sum(r[k] for r in runs) for k in REPORT_KEYS}
    report["ok"] = all(ok(r) for r in runs)
    report["runs"] = runs
    path = Path(out) if out else build_dir("reports")
    path.mkdir(parents=True, exist_ok=True)
    (path / "fuzz.json").write_text(json.dumps(report, indent=1) + "\n")
    report["path"] = str(path / "fuzz.json")
    return report


def table(report: dict) -> str:
    cols = ["run", *REPORT_KEYS, "errors pred/counted", "s"]
    rows = []
    for r in report["runs"]:
        rows.append(["uart" if r["uart"] else "bypass", *[r[k] for k in REPORT_KEYS],
                     f"{r['error_events_predicted']}/{r['error_events_counted']}", r["seconds"]["total"]])
    rows.append(["total", *[report[k] for k in REPORT_KEYS], "", ""])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(out)


# ---- command line -------------------------------------------------------------------------------

def add_parser(sub):
    """``ternecg fuzz`` (``make fuzz``)."""
    from ternecg import options
    p = sub.add_parser("fuzz", description=__doc__.split("\n")[0])
    options.add_model(p)
    options.add_parallel(p)
    p.add_argument("--bytes", metavar="N", type=options.positive_int, default=100_000,
                   help="bytes of the run without the UART (default 100000)")
    p.add_argument("--uart-bytes", metavar="N", type=options.nonnegative_int, default=5_000,
                   help="bytes of the run through the real UART (default 5000; 0: none)")
    p.add_argument("--stimulus-seed", metavar="N", type=options.nonnegative_int, default=1,
                   help="seed of the random stimulus (default 1)")
    options.add_out(p, build_dir("reports"), "writes fuzz.json")
    p.set_defaults(func=_command)
    return p


def _command(args):
    if args.bytes < 1000:
        raise TernEcgError(f"--bytes must be at least 1000 (a PING, a beat and some damage), not {args.bytes}")
    report = fuzz(model=args.model, n_bytes=args.bytes, uart_bytes=args.uart_bytes,
                  seed=args.stimulus_seed, parallel=args.parallel, out=args.out)
    print(table(report))
    print(f"wrote {report['path']}")
    if not report["ok"]:
        raise TernEcgError(f"the protocol fuzz found problems; see {report['path']}")
