"""Host client: stream a record's beats to a board over serial and evaluate its answers.

    python -m ternecg.boards.host --port /dev/ttyUSB1 --record 100 [--limit N] [--beats 0,5,9]

Reads the record's beats (240-sample windows around the reference R peaks, as in training),
sends them one at a time (stop-and-wait, sequence numbers, timeouts and retries; see
docs/protocol.md), writes the board's classes as a WFDB annotation file
``build/host/<record>.fpga`` (read it with ``wfdb.rdann('build/host/100', 'fpga')``), prints AAMI
Se/+P and the confusion matrix against the reference annotations, draws
``build/host/<record>_fpga.png`` and writes ``build/host/<record>_fpga.json``.

The :class:`Client` class works on any object with pyserial's ``read``/``write``/``timeout``/
``in_waiting``, so the end-to-end simulation (tests/sim/test_board_e2e.py) uses this same code on
a pseudo-terminal.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError, cli_main

from . import protocol as P

DEFAULT_BAUD = 115200


def open_port(path: str, baud: int = DEFAULT_BAUD, timeout: float = 0.05):
    """Open a serial port (pyserial) or raise a TernEcgError naming it."""
    try:
        import serial
    except ImportError:
        raise TernEcgError("the host client needs pyserial: run '.venv/bin/pip install pyserial'") from None
    if not os.path.exists(path):
        try:
            from serial.tools import list_ports
            ports = [p.device for p in list_ports.comports()]
        except Exception:
            ports = []
        hint = (f"available ports: {', '.join(ports)}" if ports else "no serial ports found: is the board "
                "plugged in (iCEBreaker/ULX3S FTDI: usually /dev/ttyUSB1 or /dev/ttyUSB0)?")
        raise TernEcgError(f"serial port {path!r} does not exist; {hint}")
    try:
        return serial.Serial(path, baudrate=baud, timeout=timeout, write_timeout=5)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise TernEcgError(f"cannot open serial port {path!r} at {baud} baud ({exc}); check the "
                           f"permissions (group dialout) and that no other program uses it") from None


@dataclass
class Stats:
    sent: int = 0
    retries: int = 0
    duplicates: int = 0
    errors: collections.Counter = field(default_factory=collections.Counter)

    def as_dict(self):
        return {"sent": self.sent, "retries": self.retries, "duplicates": self.duplicates,
                "errors": dict(self.errors)}


class Client:
    """Protocol client over a serial-like ``port``.

    ``timeout`` (s): how long to wait for a beat's result before sending it again;
    ``retries``: how many times a beat is resent before giving up (TernEcgError).
    """

    def __init__(self, port, *, timeout: float = 1.0, retries: int = 5, name: str = "the board"):
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.name = name
        self.decoder = P.Decoder(accept=P.DEVICE_TYPES, lengths={P.STATUS: P.STATUS_LEN, P.ERROR: P.ERROR_LEN},
                                 max_len=P.result_len(P.MAX_CLASSES))
        self.stats = Stats()
        self.status: P.Status | None = None

    # ---- low level ----
    def send(self, frame: bytes):
        self.port.write(frame)
        flush = getattr(self.port, "flush", None)
        if flush:
            flush()

    def _events(self, deadline: float):
        """Frames/decode errors that arrive before ``deadline`` (returns at the first batch)."""
        while True:
            waiting = getattr(self.port, "in_waiting", 0)
            data = self.port.read(max(1, waiting))
            if data:
                events = self.decoder.feed(data)
                if events:
                    return events
            elif self.decoder.in_frame and time.monotonic() >= deadline:
                return self.decoder.timeout()
            if time.monotonic() >= deadline:
                return []

    def _note_error(self, ev):
        self.stats.errors[("device " if isinstance(ev, P.Error) else "host ") + ev.name] += 1

    # ---- requests ----
    def ping(self, token: int = 0x5A) -> P.Status:
        """Ask for STATUS; raises TernEcgError if the device stays silent."""
        for _ in range(self.retries + 1):
            self.send(P.encode_ping(token))
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:
                for ev in self._events(deadline):
                    if isinstance(ev, P.Frame):
                        msg = ev.parse()
                        if isinstance(msg, P.Status) and msg.token == token:
                            self.status = msg
                            return msg
                        if isinstance(msg, P.Error):
                            self._note_error(msg)
                    else:
                        self._note_error(ev)
        raise TernEcgError(f"no answer from {self.name} to {self.retries + 1} PINGs within {self.timeout:g} s "
                           f"each: is the bitstream loaded (make program) and is the baud rate right?")

    def classify_one(self, seq: int, samples, rr=None) -> P.Result:
        """One beat (and, for a board with an RR path, its three RR codes: a BEAT_RR frame)."""
        frame = P.encode_beat(seq, samples) if rr is None else P.encode_beat_rr(seq, rr, samples)
        seq &= 0xFF
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retries += 1
            self.send(frame)
            self.stats.sent += 1
            deadline = time.monotonic() + self.timeout
            resend = False
            while not resend and time.monotonic() < deadline:
                for ev in self._events(deadline):
                    if isinstance(ev, P.DecodeError):        # a device frame was damaged
                        self._note_error(ev)
                        if ev.code != P.E_SYNC:
                            resend = True
                        continue
                    msg = ev.parse()
                    if isinstance(msg, P.Result):
                        if msg.seq == seq:
                            return msg
                        self.stats.duplicates += 1            # late answer to a resent beat
                    elif isinstance(msg, P.Error):
                        self._note_error(msg)
                        if msg.code == P.E_TYPE and msg.detail == frame[2]:
                            want = "with" if frame[2] == P.BEAT else "without"
                            raise TernEcgError(
                                f"{self.name} rejects {P.TYPE_NAMES[frame[2]]} frames: its bitstream holds a "
                                f"model {want} an RR path; pass the --model it was built from")
                        if not msg.info_only:
                            resend = True
                            if msg.code == P.E_BUSY:
                                time.sleep(0.01)
            # timeout or a lost frame: send the beat again
        raise TernEcgError(f"{self.name} did not classify beat seq {seq} after {self.retries + 1} tries "
                           f"(timeout {self.timeout:g} s each; errors {dict(self.stats.errors)}); is the "
                           f"bitstream loaded and the baud rate right?")

    def classify(self, raws, progress: bool = False, rr=None) -> dict:
        """All beats (n, 240) [and their (n, 3) RR codes] -> {"cls", "logits", "cycles"} arrays, one
        result per beat, in order."""
        raws = np.asarray(raws)
        if rr is not None and len(rr) != len(raws):
            raise TernEcgError(f"{len(rr)} RR code rows for {len(raws)} beats")
        cls, logits, cycles = [], [], []
        it = range(len(raws))
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(raws), unit="beat", desc="classifying")
        for i in it:
            r = self.classify_one(i, raws[i], None if rr is None else rr[i])
            cls.append(r.cls)
            logits.append(r.logits)
            cycles.append(r.cycles)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        return {"cls": np.array(cls, dtype=np.int64), "logits": np.array(logits, dtype=np.int64),
                "cycles": np.array(cycles, dtype=np.int64)}


# ---- evaluation / outputs ------------------------------------------------------------------

#: WFDB beat symbols a class name can be written as; other names are written as 'Q' + aux_note
_WFDB_SYMBOLS = {"N", "V", "F", "/", "f", "A", "S", "L", "R"}


def write_annotations(record: str, samples, classes, class_names, out_dir) -> Path:
    """WFDB annotation file ``out_dir/<record>.fpga`` of the board's classes."""
    import wfdb
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [class_names[c] if 0 <= c < len(class_names) else f"class{c}" for c in classes]
    symbols = [n if n in _WFDB_SYMBOLS else "Q" for n in names]
    aux = [("" if n in _WFDB_SYMBOLS else n) for n in names]
    wfdb.wrann(str(record), "fpga", np.asarray(samples, dtype=np.int64), symbol=symbols, aux_note=aux,
               write_dir=str(out_dir))
    return out_dir / f"{record}.fpga"


def evaluate(symbols, classes, class_names) -> dict:
    from ternecg.golden.beats import binary_labels
    from ternecg.golden.evaluate import binary_metrics, six_metrics
    symbols = np.asarray(symbols)
    classes = np.asarray(classes)
    if len(class_names) == 2:
        keep = binary_labels(symbols) >= 0              # AAMI Q beats are excluded
        return binary_metrics(symbols[keep], classes[keep])
    return six_metrics(symbols, classes)


def format_report(rep: dict) -> str:
    lines = [f"beats {rep['beats']}, accuracy {_pct(rep['acc'])}"]
    lines.append(f"{'class':>10} {'count':>6} {'Se':>7} {'+P':>7}")
    for c, v in rep["per_class"].items():
        lines.append(f"{c:>10} {v['count']:>6} {_pct(v.get('se')):>7} {_pct(v.get('ppv')):>7}")
    names = rep["classes"]
    lines.append("confusion (rows: reference, columns: board):")
    lines.append(" " * 10 + "".join(f"{n:>10}" for n in names))
    for n, row in zip(names, rep["confusion"]):
        lines.append(f"{n:>10}" + "".join(f"{v:>10}" for v in row))
    return "\n".join(lines)


def _pct(v):
    return "-" if v is None else f"{100 * v:.1f}%"


def plot(rep: dict, title: str, path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cm = np.asarray(rep["confusion"])
    fig, ax = plt.subplots(figsize=(4 + 0.5 * len(cm), 3.5 + 0.5 * len(cm)))
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", color="black")
    ax.set_xticks(range(len(cm)), rep["classes"])
    ax.set_yticks(range(len(cm)), rep["classes"])
    ax.set_xlabel("board")
    ax.set_ylabel("reference")
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def select_index(n, limit=None, indices=None):
    """Indices of the beats to send out of a record's ``n`` beats (``--beats``, then ``--limit``)."""
    idx = np.arange(n)
    if indices is not None:
        bad = [i for i in indices if not 0 <= i < n]
        if bad:
            raise TernEcgError(f"beat index {bad[0]} is out of range: the record has {n} beats (0..{n - 1})")
        idx = np.asarray(indices, dtype=np.int64)
    if limit is not None:
        if limit < 1:
            raise TernEcgError(f"--limit must be at least 1, not {limit}")
        idx = idx[:limit]
    return idx


def select_beats(beats, limit=None, indices=None):
    return beats.subset(select_index(len(beats), limit, indices))


def run(port, record: str, *, baud=DEFAULT_BAUD, limit=None, indices=None, db=None, model=None,
        out="build/host", timeout=1.0, retries=5, progress=True, serial_port=None) -> dict:
    from ternecg.golden.spec import modelfile
    from ternecg.golden.beats import extract_record
    from ternecg.golden.records import find_database
    from ternecg.golden.rr import model_codes

    sp = serial_port if serial_port is not None else open_port(port, baud)
    try:
        m = modelfile.load(model)
        beats, _ = extract_record(find_database(db), str(record))
        idx = select_index(len(beats), limit, indices)
        # a model with an RR path gets each beat's RR codes, from the R peaks of the whole record
        # (here the database's annotations; on a monitor, the QRS detector that cuts the beats)
        rr = model_codes(beats, m.cfg).numpy()[idx] if m.cfg.rr_bits else None
        beats = beats.subset(idx)
        client = Client(sp, timeout=timeout, retries=retries, name=f"the board on {port}")
        status = client.ping()
        if status.n_classes != len(m.classes):
            raise TernEcgError(f"the board classifies into {status.n_classes} classes but the model file "
                               f"{m.path} has {len(m.classes)}; pass the --model the bitstream was built from")
        if status.model_id != P.model_id(m.sha256):
            print(f"warning: the board's model id {status.model_id:08x} differs from {m.path} "
                  f"({P.model_id(m.sha256):08x}): the bitstream holds another model", file=sys.stderr)
        t0 = time.time()
        res = client.classify(beats.raw, progress=progress, rr=rr)
        seconds = time.time() - t0
    finally:
        if serial_port is None:
            sp.close()
    out = Path(out)
    ann = write_annotations(record, beats.sample, res["cls"], m.classes, out)
    rep = evaluate(beats.symbol, res["cls"], m.classes)
    png = plot(rep, f"record {record}: board vs reference", out / f"{record}_fpga.png")
    summary = {"record": str(record), "beats": len(beats), "seconds": round(seconds, 2),
               "beats_per_s": round(len(beats) / seconds, 2) if seconds else None,
               "cycles_mean": float(res["cycles"].mean()) if len(beats) else None,
               "link": client.stats.as_dict(), "metrics": rep, "annotations": str(ann), "png": str(png)}
    (out / f"{record}_fpga.json").write_text(json.dumps(summary, indent=1) + "\n")
    summary["results"] = res
    return summary


@cli_main("host")
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ternecg.boards.host", description=__doc__.split("\n")[0])
    p.add_argument("--port", required=True, help="serial port of the board (e.g. /dev/ttyUSB1)")
    p.add_argument("--record", required=True, help="MIT-BIH record name, e.g. 100")
    p.add_argument("--limit", type=int, default=None, help="only the first N beats")
    p.add_argument("--beats", default=None, help="comma-separated beat indices of the record")
    p.add_argument("--baud", type=int, default=DEFAULT_BAUD)
    p.add_argument("--model", default=None, help="model file the bitstream was built from")
    p.add_argument("--db", default=None, help="MIT-BIH folder")
    p.add_argument("--out", default="build/host")
    p.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for a result before resending")
    p.add_argument("--retries", type=int, default=5)
    args = p.parse_args(argv)
    indices = None
    if args.beats:
        try:
            indices = [int(x) for x in args.beats.split(",") if x.strip()]
        except ValueError:
            raise TernEcgError(f"--beats must be comma-separated integers, not {args.beats!r}") from None
    s = run(args.port, args.record, baud=args.baud, limit=args.limit, indices=indices, db=args.db,
            model=args.model, out=args.out, timeout=args.timeout, retries=args.retries)
    print(format_report(s["metrics"]))
    link = s["link"]
    print(f"{s['beats']} beats in {s['seconds']:.1f} s; retries {link['retries']}, errors {link['errors']}")
    print(f"wrote {s['annotations']}, {s['png']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
