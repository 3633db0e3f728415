"""Host client: stream a record's beats to a board over serial and evaluate its answers.

    ternecg host --port /dev/ttyUSB1 --record 100 [--limit N] [--beats 0,5,9] [--resume]

Reads the record's beats (240-sample windows around the reference R peaks, as in training),
sends them one at a time (stop-and-wait, sequence numbers, timeouts and retries; see
docs/protocol.md) and writes, in ``--out`` (default ``build/host/``):

- ``<record>_fpga.csv``: one row per beat (beat index, R-peak sample, class, cycles, logits),
  appended and flushed as each RESULT arrives, so a link that fails after minutes loses nothing:
  ``--resume`` continues an unfinished run where it stopped;
- ``<record>.fpga``: the board's classes as WFDB beat annotations (read it with
  ``wfdb.rdann('build/host/100', 'fpga')``); the symbols and the header comment come from
  golden/spec/symbols.py (boards/README.md, "WFDB annotations");
- ``<record>_fpga.json`` (summary: link statistics, AAMI Se/+P, what an EC57 tool reads from the
  annotation file) and ``<record>_fpga.png`` (confusion matrix).

Everything that can be checked before the first beat is sent is checked first (the options, the
model, the record, the beat selection, the output folder, an unfinished earlier run), each as one
line. The :class:`Client` class works on any object with pyserial's ``read``/``write``/``timeout``/
``in_waiting``, so the end-to-end simulation (tests/sim/test_board_e2e.py) uses this same code on
a pseudo-terminal.
"""

from __future__ import annotations

import collections
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError

from . import protocol as P

DEFAULT_BAUD = 115200


def check_link_options(*, timeout=None, retries=None, baud=None):
    """Reject nonsense link options (one line each): ``timeout`` a finite number of seconds > 0,
    ``retries`` an integer >= 0 (0: no resend), ``baud`` an integer > 0."""
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not math.isfinite(timeout) or timeout <= 0):
        raise TernEcgError(f"--timeout {timeout!r}: must be a finite number of seconds greater than 0")
    if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or retries < 0):
        raise TernEcgError(f"--retries {retries!r}: must be an integer >= 0 (0: send each beat once)")
    if baud is not None and (isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0):
        raise TernEcgError(f"--baud {baud!r}: must be a positive integer (the bitstream's rate, "
                           f"default {DEFAULT_BAUD})")


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


class SerialClient:
    """What both host clients (:class:`Client`, boards/monitor_host.py ``MonitorClient``) share: a
    serial-like ``port`` (pyserial's ``read``/``write``/``in_waiting``, ``flush`` when it has one),
    the link options ``timeout`` and ``retries`` (checked by :func:`check_link_options`), the
    board's ``name`` in messages, and :meth:`send`."""

    def __init__(self, port, *, timeout: float, retries: int, name: str):
        check_link_options(timeout=timeout, retries=retries)
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.name = name

    def send(self, frame: bytes):
        self.port.write(frame)
        flush = getattr(self.port, "flush", None)
        if flush:
            flush()


class Client(SerialClient):
    """Protocol client over a serial-like ``port``.

    ``timeout`` (s): how long to wait for a beat's result before sending it again;
    ``retries``: how many times a beat is resent before giving up (TernEcgError).
    """

    def __init__(self, port, *, timeout: float = 1.0, retries: int = 5, name: str = "the board"):
        super().__init__(port, timeout=timeout, retries=retries, name=name)
        self.decoder = P.Decoder(accept=P.DEVICE_TYPES, lengths={P.STATUS: P.STATUS_LEN, P.ERROR: P.ERROR_LEN},
                                 max_len=P.result_len(P.MAX_CLASSES))
        self.stats = Stats()
        self.status: P.Status | None = None

    # ---- low level ----
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
        if isinstance(ev, P.DecodeError) and ev.code == P.E_VERSION and ev.detail == P.VERSION_MONITOR:
            raise TernEcgError(f"{self.name} speaks protocol version 2: it holds the monitor bitstream "
                               f"(make synth APP=monitor); stream a record to it with 'ternecg monitor' "
                               f"(make monitor), or load the beat classifier (make program)")

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
        """One beat (and, for a board with an RR path, its RR codes, as many as the model reads:
        a BEAT_RR frame)."""
        frame = P.encode_beat(seq, samples) if rr is None else P.encode_beat_rr(seq, rr, samples)
        seq &= 0xFF
        too_long = 0                        # attempts whose BEAT_RR the board refused as LENGTH
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
                        if msg.code == P.E_LENGTH and msg.detail == frame[2] == P.BEAT_RR:
                            # a damaged LEN field says LENGTH once; a board whose model reads
                            # another number of RR codes says it to every copy
                            too_long += 1
                            if too_long == 2 or too_long == self.retries + 1:
                                raise TernEcgError(
                                    f"{self.name} rejects BEAT_RR frames with {len(rr)} RR codes (LENGTH, "
                                    f"{too_long} times): its bitstream holds a model that reads another "
                                    f"number of RR codes; pass the --model it was built from")
                        if not msg.info_only:
                            resend = True
                            if msg.code == P.E_BUSY:
                                time.sleep(0.01)
            # timeout or a lost frame: send the beat again
        raise TernEcgError(f"{self.name} did not classify beat seq {seq} after {self.retries + 1} tries "
                           f"(timeout {self.timeout:g} s each; errors {dict(self.stats.errors)}); is the "
                           f"bitstream loaded and the baud rate right?")

    def classify(self, raws, progress: bool = False, rr=None, on_result=None) -> dict:
        """All beats (n, 240) [and their (n, F) RR codes, F the model's] -> {"cls", "logits", "cycles"} arrays, one
        result per beat, in order; ``on_result(i, result)`` is called as each one arrives."""
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
            if on_result is not None:
                on_result(i, r)
            cls.append(r.cls)
            logits.append(r.logits)
            cycles.append(r.cycles)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        return {"cls": np.array(cls, dtype=np.int64), "logits": np.array(logits, dtype=np.int64),
                "cycles": np.array(cycles, dtype=np.int64)}


# ---- outputs ------------------------------------------------------------------------------

#: sample of the header comment: wfdb-python's rdann drops every comment at sample 0 (it reads
#: them as file definitions), so the header sits at sample 1 where every reader shows it
HEADER_SAMPLE = 1


def write_annotations(record: str, samples, classes, class_names, out_dir, source: str = "",
                      fs: int | None = 360) -> Path:
    """WFDB annotation file ``out_dir/<record>.fpga`` of the board's classes: the sampling rate
    (``## time resolution``, at sample 0), a comment at sample 1 saying what the symbols mean, then
    one beat annotation per class decision, with the symbols of
    :func:`ternecg.golden.spec.symbols.scheme` (written to a temporary name, then renamed)."""
    import wfdb
    from ternecg.golden.spec.symbols import scheme
    sch = scheme(class_names, source)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    symbols = [sch.symbol(c) for c in np.asarray(classes).tolist()]
    notes = [sch.notes[c] for c in np.asarray(classes).tolist()]
    tmp = f"{record}_tmp{os.getpid()}"
    samples = np.asarray(samples, dtype=np.int64).tolist()
    if samples and samples[0] <= HEADER_SAMPLE:
        raise TernEcgError(f"a beat at sample {samples[0]} of record {record}: beats start after sample "
                           f"{HEADER_SAMPLE} (a beat window is centred on its R peak)")
    wfdb.wrann(tmp, "fpga", np.asarray([HEADER_SAMPLE, *samples], dtype=np.int64),
               symbol=['"', *symbols], aux_note=[sch.header, *notes], fs=fs, write_dir=str(out_dir))
    path = out_dir / f"{record}.fpga"
    os.replace(out_dir / f"{tmp}.fpga", path)
    return path


class ResultLog:
    """``<record>_fpga.csv``: the board's results, one flushed row per beat as it arrives.

    The first line names the record, the model (sha256) and the classes; then a column header and
    one row ``beat,sample,cls,cycles,logit0,...`` per classified beat (beat = index in the record);
    a last line ``# complete`` marks a finished run. An unfinished file is kept unless the caller
    resumes it (``resume=True``: its rows for the selected beats are reused) or restarts
    (``restart=True``); otherwise it is an error, so an interrupted run's board time is never
    overwritten by accident.
    """

    def __init__(self, path, *, record, sha256, classes, index, samples, resume=False, restart=False):
        self.path = Path(path)
        self.done: dict[int, tuple] = {}
        self.head = f"# ternecg host results; record={record}; model_sha256={sha256}; classes={','.join(classes)}"
        self.columns = "beat,sample,cls,cycles," + ",".join(f"logit{i}" for i in range(len(classes)))
        want = dict(zip(np.asarray(index).tolist(), np.asarray(samples).tolist()))
        old = self.path.read_text(errors="replace").splitlines() if self.path.is_file() else None
        if old is not None and not resume and not restart and (not old or old[-1] != "# complete"):
            n = max(0, len([l for l in old if l and not l.startswith("#")]) - 1)
            raise TernEcgError(f"{self.path} holds an unfinished run ({n} beats classified); pass --resume "
                               f"to continue it, or --restart to discard it")
        if old is not None and resume:
            if not old or old[0] != self.head:
                raise TernEcgError(f"cannot --resume from {self.path}: it was written for another record, model "
                                   f"or class list ({old[0] if old else 'empty file'!r}); pass --restart")
            for line in old[2:]:
                if not line or line.startswith("#"):
                    continue
                try:
                    vals = [int(v) for v in line.split(",")]
                except ValueError:
                    continue                                  # a row cut short by the interruption
                if len(vals) == 4 + len(classes) and want.get(vals[0]) == vals[1]:
                    self.done[vals[0]] = (vals[2], vals[3], vals[4:])
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
            with open(tmp, "w") as f:
                f.write(self.head + "\n" + self.columns + "\n")
                for beat in sorted(self.done):
                    cls, cycles, logits = self.done[beat]
                    f.write(self._row(beat, want[beat], cls, cycles, logits))
            os.replace(tmp, self.path)
            self._f = open(self.path, "a")
        except OSError as exc:
            raise TernEcgError(f"cannot write the results file {self.path} ({exc.strerror or exc}); "
                               f"pass another --out") from None

    @staticmethod
    def _row(beat, sample, cls, cycles, logits):
        return ",".join(str(int(v)) for v in (beat, sample, cls, cycles, *logits)) + "\n"

    def add(self, beat, sample, result):
        self._f.write(self._row(beat, sample, result.cls, result.cycles, result.logits))
        self._f.flush()
        self.done[int(beat)] = (result.cls, result.cycles, list(result.logits))

    def close(self, complete=False):
        if complete:
            self._f.write("# complete\n")
        self._f.close()


def output_paths(out, record) -> dict:
    """The output files of one record (``--out``/<record>...), checked before anything is sent
    (:func:`output_folder`)."""
    return output_folder(out, {"csv": f"{record}_fpga.csv", "annotations": f"{record}.fpga",
                               "json": f"{record}_fpga.json", "png": f"{record}_fpga.png"},
                         default="build/host")


def output_folder(out, names: dict, *, default: str) -> dict:
    """``names`` (key -> file name) as paths in the folder ``out``, which is created; checked
    before anything is sent, each as one line: ``out`` must be a folder (or not exist yet, below a
    folder; ``default`` is the folder the message names), writable, and no output may be a folder.
    Used by the host and the monitor host (boards/monitor_host.py)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise TernEcgError(f"--out {out} is an existing file, not a folder; pass a folder (default {default})")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise TernEcgError(f"--out {out}: {parent} is a file, not a folder; pass another --out")
    paths = {key: out / name for key, name in names.items()}
    for p in paths.values():
        if p.is_dir():
            raise TernEcgError(f"output {p} is a folder; remove it or pass another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TernEcgError(f"cannot create the output folder {out} ({exc.strerror or exc}); pass another --out") from None
    if not os.access(out, os.W_OK):
        raise TernEcgError(f"the output folder {out} is not writable; pass another --out")
    return paths


# ---- evaluation ---------------------------------------------------------------------------

def aami_metrics(symbols, classes, class_names) -> dict:
    """Se/+P, accuracy and confusion of a model whose classes are AAMI classes (e.g. N, S, V, F):
    a beat's reference is its AAMI class; beats of an AAMI class the model lacks are left out."""
    from ternecg.golden.beats import aami_class
    from ternecg.golden.evaluate import confusion
    names = list(class_names)
    ref = aami_class(symbols)
    keep = np.isin(ref, names)
    y_true = np.array([names.index(c) for c in ref[keep].tolist()], dtype=np.int64)
    cm = confusion(y_true, np.asarray(classes)[keep], len(names))

    def ratio(a, b):
        return float(a) / float(b) if b else None
    per_class = {c: {"count": int(cm[i].sum()), "se": ratio(cm[i, i], cm[i].sum()),
                     "ppv": ratio(cm[i, i], cm[:, i].sum())} for i, c in enumerate(names)}
    return {"acc": ratio(np.trace(cm), cm.sum()), "per_class": per_class, "confusion": cm.tolist(),
            "classes": names, "beats": int(cm.sum())}


def evaluate(symbols, classes, class_names) -> dict:
    from ternecg.golden.beats import AAMI_GROUPS, BINARY_CLASSES, SIX_CLASSES, binary_labels
    from ternecg.golden.evaluate import binary_metrics, six_metrics
    symbols = np.asarray(symbols)
    classes = np.asarray(classes)
    if tuple(class_names) == BINARY_CLASSES:
        keep = binary_labels(symbols) >= 0              # AAMI Q beats are excluded
        return binary_metrics(symbols[keep], classes[keep])
    if tuple(class_names) == SIX_CLASSES:
        return six_metrics(symbols, classes)
    if set(class_names) <= set(AAMI_GROUPS):
        return aami_metrics(symbols, classes, class_names)
    raise TernEcgError(f"the host scores binary (N, abnormal), six-class and AAMI-class models, not classes "
                       f"{', '.join(class_names)}")


def ec57_reading(ref_symbols, classes, class_names) -> dict:
    """What an EC57 tool (bxb -S) reads from the written annotation file: its VEB/SVEB figures."""
    from ternecg.golden.spec.symbols import bxb_statistics, scheme
    sch = scheme(class_names)
    return bxb_statistics([str(s) for s in ref_symbols], [sch.symbol(c) for c in np.asarray(classes).tolist()])


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


def format_ec57(ec: dict, classes) -> str:
    text = (f"EC57 tools (bxb -S) read from the annotation file: VEB Se {_pct(ec['veb_se'])} +P "
            f"{_pct(ec['veb_ppv'])}, SVEB Se {_pct(ec['sveb_se'])} +P {_pct(ec['sveb_ppv'])}")
    from ternecg.golden.spec.symbols import COMPOSITE
    composite = [c for c in classes if c in COMPOSITE]
    if composite:
        text += (f" (the model's {', '.join(composite)} beats are written as Q, unclassified: "
                 f"it makes no V or S decision; the figures above are its own)")
    return text


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


# ---- the run ------------------------------------------------------------------------------

def select_index(n, limit=None, indices=None):
    """Indices of the beats to send out of a record's ``n`` beats (``--beats``, then ``--limit``):
    ``indices`` must be ascending, without repeats, within 0..n-1."""
    idx = np.arange(n)
    if indices is not None:
        indices = check_indices(indices)
        bad = [i for i in indices if not 0 <= i < n]
        if bad:
            raise TernEcgError(f"beat index {bad[0]} is out of range: the record has {n} beats (0..{n - 1})")
        idx = np.asarray(indices, dtype=np.int64)
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
            raise TernEcgError(f"--limit must be at least 1, not {limit}")
        idx = idx[:limit]
    return idx


def check_indices(indices) -> list:
    """``--beats``: at least one index, each >= 0, ascending, none twice (checked before the record
    is read)."""
    indices = [int(i) for i in indices]
    if not indices:
        raise TernEcgError("--beats is empty; list beat indices, e.g. --beats 0,5,9")
    if min(indices) < 0:
        raise TernEcgError(f"beat index {min(indices)} is negative; beat indices start at 0")
    for a, b in zip(indices, indices[1:]):
        if b == a:
            raise TernEcgError(f"--beats lists beat {a} twice; list each beat once")
        if b < a:
            raise TernEcgError(f"--beats must be ascending: {b} comes after {a}")
    return indices


def select_beats(beats, limit=None, indices=None):
    return beats.subset(select_index(len(beats), limit, indices))


def check_port(path: str):
    """The serial port must exist (checked before the data is read; opened only to stream)."""
    if not os.path.exists(path):
        open_port(path)                # raises the one-line message with the available ports


def record_codes(beats, cfg) -> np.ndarray:
    """(n, F) int64 RR codes that the host sends for ``beats``: all the beats of one record, in
    R-peak order (golden/beats.py ``extract_record``), for a model config ``cfg`` with an RR path,
    in the model's code order (golden/spec/rr.py ``feature_names``, docs/protocol.md BEAT_RR):
    the three interval codes, with ``rr_template`` the template code (each beat's raw window
    against the record's running average beat, the beats pushed in order: golden/spec/rr.py
    ``Template``, gate ``cfg.rr_template_gate``), with ``rr_irregular`` the irregularity code;
    golden/rr.py ``model_codes``, the same codes as the software monitor's (golden/monitor.py
    ``codes``).

    So a subset of a record's beats (``--beats``, ``--limit``) gets the codes its beats have in the
    whole record. No arithmetic here: the golden functions are called."""
    from ternecg.golden.rr import model_codes
    if cfg.rr_template:
        if len(np.unique(beats.record)) > 1:
            raise TernEcgError(f"the template code is a record's own: pass one record's beats, not those of "
                               f"{len(np.unique(beats.record))} records")
        if np.any(np.diff(beats.sample) <= 0):
            raise TernEcgError("the template code needs a record's beats in R-peak order; sort the beats by sample")
    return model_codes(beats, cfg).numpy()


def stream_record(port, record: str, *, baud=DEFAULT_BAUD, limit=None, indices=None, db=None, model=None,
                  out=None, timeout=1.0, retries=5, progress=True, serial_port=None,
                  resume=False, restart=False) -> dict:
    """Classify ``record``'s beats on the board at ``port`` (or on ``serial_port``, any serial-like
    object) and write the outputs (module docstring). Returns the summary."""
    from ternecg.golden.beats import extract_record
    from ternecg.golden.records import find_database
    from ternecg.golden.spec import modelfile
    from ternecg.paths import build_dir, relative

    out = build_dir("host") if out is None else out
    # everything that can fail before the first beat is checked first
    check_link_options(timeout=timeout, retries=retries, baud=baud)
    if indices is not None:
        check_indices(indices)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise TernEcgError(f"--limit must be at least 1, not {limit}")
    record = str(record)
    paths = output_paths(out, record)
    if serial_port is None:
        check_port(port)
    m = modelfile.load(model)
    beats, _ = extract_record(find_database(db), record)
    idx = select_index(len(beats), limit, indices)
    # a model with an RR path gets each beat's RR codes, from the whole record's beats (here the
    # database's annotations; on a monitor, the QRS detector that cuts the beats)
    rr = record_codes(beats, m.cfg)[idx] if m.cfg.rr_bits else None
    beats = beats.subset(idx)
    log = ResultLog(paths["csv"], record=record, sha256=m.sha256, classes=m.classes, index=idx,
                    samples=beats.sample, resume=resume, restart=restart)
    todo = np.array([i for i, b in enumerate(idx.tolist()) if b not in log.done], dtype=np.int64)
    sp = serial_port if serial_port is not None else open_port(port, baud)
    seconds = 0.0
    client = Client(sp, timeout=timeout, retries=retries, name=f"the board on {port}")
    try:
        if len(todo):
            status = client.ping()
            if status.n_classes != len(m.classes):
                raise TernEcgError(f"the board classifies into {status.n_classes} classes but the model file "
                                   f"{m.path} has {len(m.classes)}; pass the --model the bitstream was built from")
            if status.model_id != P.model_id(m.sha256):
                print(f"warning: the board's model id {status.model_id:08x} differs from {m.path} "
                      f"({P.model_id(m.sha256):08x}): the bitstream holds another model", file=sys.stderr)
            t0 = time.time()
            try:
                client.classify(beats.raw[todo], progress=progress, rr=None if rr is None else rr[todo],
                                on_result=lambda i, r: log.add(int(idx[todo[i]]), int(beats.sample[todo[i]]), r))
            except (TernEcgError, KeyboardInterrupt) as exc:
                what = str(exc) if isinstance(exc, TernEcgError) else "interrupted"
                raise TernEcgError(f"{what} [{len(log.done)} of {len(idx)} beats classified so far, kept in "
                                   f"{paths['csv']}; rerun with --resume to continue]") from None
            seconds = time.time() - t0
        log.close(complete=True)
    except BaseException:
        log.close()
        raise
    finally:
        if serial_port is None:
            sp.close()
    res = {"cls": np.array([log.done[b][0] for b in idx.tolist()], dtype=np.int64),
           "cycles": np.array([log.done[b][1] for b in idx.tolist()], dtype=np.int64),
           "logits": np.array([log.done[b][2] for b in idx.tolist()], dtype=np.int64).reshape(len(idx), -1)}
    out = Path(out)
    ann = write_annotations(record, beats.sample, res["cls"], m.classes, out, source=relative(m.path))
    rep = evaluate(beats.symbol, res["cls"], m.classes)
    ec = ec57_reading(beats.symbol, res["cls"], m.classes)
    png = plot(rep, f"record {record}: board vs reference", paths["png"])
    summary = {"record": record, "model": str(m.path), "model_sha256": m.sha256, "beats": len(beats),
               "resumed_beats": len(idx) - len(todo), "seconds": round(seconds, 2),
               "beats_per_s": round(len(todo) / seconds, 2) if seconds else None,
               "cycles_mean": float(res["cycles"].mean()) if len(beats) else None,
               "link": client.stats.as_dict(), "metrics": rep, "ec57_from_annotations": ec,
               "annotations": str(ann), "results_csv": str(paths["csv"]), "png": str(png)}
    tmp = paths["json"].with_name(paths["json"].name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(summary, indent=1) + "\n")
    os.replace(tmp, paths["json"])
    summary["results"] = res
    return summary


def add_parser(sub):
    """``ternecg host`` (``make host``)."""
    from ternecg import options
    from ternecg.paths import build_dir
    p = sub.add_parser("host", description=__doc__.split("\n")[0])
    p.add_argument("--port", required=True, help="serial port of the board (e.g. /dev/ttyUSB1)")
    p.add_argument("--record", required=True, help="MIT-BIH record name, e.g. 100")
    options.add_limit(p)
    p.add_argument("--beats", metavar="I,...", type=options.nonnegative_int_list, default=None,
                   help="beat indices of the record, comma-separated, ascending (default: all)")
    options.add_baud(p, default=DEFAULT_BAUD)
    options.add_model(p, what="the bitstream was built from (default: models/default.json)")
    options.add_db(p)
    options.add_out(p, build_dir("host"), "writes <record>_fpga.csv (as results arrive), <record>.fpga, .json, .png")
    p.add_argument("--timeout", metavar="S", type=options.positive_float, default=1.0,
                   help="seconds to wait for a result before resending (default: 1)")
    p.add_argument("--retries", metavar="N", type=options.nonnegative_int, default=5,
                   help="resends per beat before giving up (default: 5; 0: send once)")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue an unfinished run: reuse the results in <record>_fpga.csv")
    again.add_argument("--restart", action="store_true", help="discard an unfinished run's results")
    p.set_defaults(func=_command)
    return p


def _command(args):
    s = stream_record(args.port, args.record, baud=args.baud, limit=args.limit, indices=args.beats, db=args.db,
                      model=args.model, out=args.out, timeout=args.timeout, retries=args.retries,
                      resume=args.resume, restart=args.restart)
    print(format_report(s["metrics"]))
    from ternecg.golden.spec import modelfile
    print(format_ec57(s["ec57_from_annotations"], modelfile.load(args.model).classes))
    link = s["link"]
    print(f"{s['beats']} beats in {s['seconds']:.1f} s ({s['resumed_beats']} from the earlier run); "
          f"retries {link['retries']}, errors {link['errors']}")
    print(f"wrote {s['annotations']}, {s['results_csv']}, {s['png']}")


if __name__ == "__main__":
    from ternecg.cli import command_main
    sys.exit(command_main("host")())
