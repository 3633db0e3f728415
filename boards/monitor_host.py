"""Host of the live monitor: stream a record's raw samples to a monitor board, collect its beats.

    ternecg monitor --port /dev/ttyUSB1 --record 208 [--realtime] [--seconds S]

(``make monitor PORT=... RECORD=... [REALTIME=1]``.) Reads the record's raw lead MLII, streams
it to a board built with ``make synth APP=monitor`` in SAMPLES frames (protocol version 2,
docs/protocol.md: 32 samples per frame, the record's last sample flagged END), paced at 360 Hz
with ``--realtime`` (each frame leaves once its samples would have been acquired), otherwise as
fast as the link and the board's flow control allow. The board detects the beats, classifies
them and sends each one (R-peak sample, class, logits) as a BEAT_EVENT. Written to ``--out``
(default ``build/monitor/``):

- ``<record>_monitor.csv``: one row per beat, appended and flushed as each BEAT_EVENT arrives;
- ``<record>.mon``: the board's beats as WFDB beat annotations (golden/annotate.py's format,
  symbols from golden/spec/symbols.py: ``wfdb.rdann('build/monitor/208', 'mon')``, or
  ``bxb -r 208 -a atr mon -S`` with ``WFDB=build/monitor:<mitdb>``);
- ``<record>.png``: the same plot as ``make annotate`` (golden/annotate.py ``plot``);
- ``<record>_monitor.json``: link statistics and the EC57 figures, which are also printed
  (golden/ec57.py matching, golden/ec57_score.py scoring, as ``make monitor-eval``).

The link (:class:`MonitorClient`): a PING after every ``PING_EVERY`` frames; each STATUS says
which sample the board expects next and how much room its sample buffer has (a frame is sent
only when it fits). When the board expects an earlier sample than the host had sent by that
PING, frames were lost (the board reported ERROR INDEX for the ones after the gap): one warning,
and the host sends again from the board's index. When the board's counters went back (it was
reset), one warning, and the record is streamed again from sample 0: the beats that come again
must equal those received before (else an error), the new ones are appended. A record the board
left unfinished (an earlier run that stopped) is ended first with a one-sample END frame (sent
again until taken), and the host waits until the board has finished it; its beats are ignored.
A board that answers but makes no progress (no sample confirmed, no beat, no room) for
``timeout * (retries + 1)`` seconds is one error.

Everything that can be checked before streaming is checked first (options, model, record,
output folder, port), each as one line. :class:`MonitorClient` works on any object with
pyserial's ``read``/``write``/``in_waiting``, so the end-to-end simulation
(tests/sim/test_monitor_board_e2e.py) runs this same code on a pseudo-terminal.
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
from .host import DEFAULT_BAUD, SerialClient, check_link_options, check_port, open_port, output_folder

#: frames between two PINGs (each STATUS acknowledges the frames before its PING)
PING_EVERY = 2
FS = 360
EXTENSION = "mon"


def warn(text: str):
    print(f"warning: {text}", file=sys.stderr, flush=True)


@dataclass
class LinkStats:
    frames: int = 0             # SAMPLES frames written (resends included)
    resent_frames: int = 0
    losses: int = 0             # go-backs after a gap in the sample index
    repeats: int = 0            # repeated frames the board dropped (ERROR INDEX, repeat)
    resets: int = 0             # board resets: the record streamed again
    lost_beats: int = 0         # BEAT_EVENTs damaged on the way (the record streamed again)
    pings: int = 0
    errors: collections.Counter = field(default_factory=collections.Counter)

    def as_dict(self):
        return {"frames": self.frames, "resent_frames": self.resent_frames, "losses": self.losses,
                "repeats": self.repeats, "resets": self.resets, "lost_beats": self.lost_beats, "pings": self.pings,
                "errors": dict(self.errors)}


class BeatLog:
    """The beats of one record by R-peak index, ``on_new(beat)`` for each new one. When beats come
    again (the record streamed again after a reset of the board or a lost BEAT_EVENT), each must
    equal the one received before with its index (else TernEcgError); only new ones are passed on."""

    def __init__(self, on_new=None):
        self.known: dict[int, P.BeatEvent] = {}
        self.on_new = on_new

    @property
    def beats(self) -> list:
        return [self.known[k] for k in sorted(self.known)]

    def add(self, beat: P.BeatEvent):
        old = self.known.get(beat.index)
        if old is not None:
            if (old.cls, list(old.logits)) != (beat.cls, list(beat.logits)):
                raise TernEcgError(f"beat at sample {beat.index} came again as class {beat.cls}, logits {beat.logits} "
                                   f"but was class {old.cls}, logits {old.logits} before: the board is not "
                                   f"deterministic (a hardware fault?)")
            return
        self.known[beat.index] = beat
        if self.on_new:
            self.on_new(beat)


class MonitorClient(SerialClient):
    """Protocol version 2 over a serial-like ``port`` (docs/protocol.md).

    ``timeout`` (s): how long to wait for the STATUS of a PING before asking again; ``retries``:
    how many unanswered PINGs in a row before giving up (TernEcgError).
    """

    def __init__(self, port, *, timeout: float = 1.0, retries: int = 5, name: str = "the board"):
        super().__init__(port, timeout=timeout, retries=retries, name=name)
        self.decoder = P.Decoder(accept=P.MONITOR_DEVICE_TYPES,
                                 lengths={P.STATUS: P.STATUS2_LEN, P.ERROR: P.ERROR_LEN},
                                 max_len=P.beat_event_len(P.MAX_CLASSES), version=P.VERSION_MONITOR)
        self.stats = LinkStats()
        self.token = 0
        self.status: P.MonitorStatus | None = None
        self._last_byte = time.monotonic()

    # ---- low level ----
    def events(self, wait: float):
        """Parsed device messages and decode errors that arrive within ``wait`` seconds (returns
        at the first batch). A frame cut short (no byte for ``timeout`` seconds inside it) is
        abandoned: the host's inter-byte timeout."""
        deadline = time.monotonic() + wait
        while True:
            waiting = getattr(self.port, "in_waiting", 0)
            data = self.port.read(max(1, waiting))
            now = time.monotonic()
            if data:
                self._last_byte = now
                out = []
                for ev in self.decoder.feed(data):
                    if isinstance(ev, P.DecodeError):
                        self._wrong_version(ev)
                        self.stats.errors["host " + ev.name] += 1
                        out.append(ev)
                    else:
                        try:
                            out.append(ev.parse())
                        except ValueError:
                            self.stats.errors["host LENGTH"] += 1
                if out:
                    return out
            elif self.decoder.in_frame and now - self._last_byte > self.timeout:
                return self.decoder.timeout()
            if now >= deadline:
                return []

    def _wrong_version(self, ev):
        if ev.code == P.E_VERSION and ev.detail == P.VERSION:
            raise TernEcgError(f"{self.name} speaks protocol version 1: it holds the beat-classifier bitstream, "
                               f"not the monitor; build and load the monitor (make synth APP=monitor BOARD=..., "
                               f"make program APP=monitor BOARD=...) or use 'ternecg host'")

    def _note(self, msg):
        if isinstance(msg, P.Error):
            self.stats.errors["device " + msg.name] += 1
            if msg.code == P.E_INDEX and msg.detail == P.INDEX_REPEAT:
                self.stats.repeats += 1

    def ping_send(self) -> int:
        self.token = (self.token + 1) & 0xFF
        self.send(P.encode_ping(self.token, P.VERSION_MONITOR))
        self.stats.pings += 1
        return self.token

    def ping(self, on_beat=None) -> P.MonitorStatus:
        """Ask for STATUS; raises TernEcgError if the device stays silent."""
        for _ in range(self.retries + 1):
            token = self.ping_send()
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:
                for msg in self.events(max(0.0, deadline - time.monotonic())):
                    self._note(msg)
                    if isinstance(msg, P.MonitorStatus) and msg.token == token:
                        self.status = msg
                        return msg
                    if isinstance(msg, P.BeatEvent) and on_beat:
                        on_beat(msg)
        raise TernEcgError(f"no answer from {self.name} to {self.retries + 1} PINGs within {self.timeout:g} s "
                           f"each: is the monitor bitstream loaded (make program APP=monitor) and is the baud "
                           f"rate right?")

    # ---- a record ----
    def end_stale_record(self, st: P.MonitorStatus) -> P.MonitorStatus:
        """The board is inside a record (``st.next`` > 0; an earlier run stopped): end it with a
        one-sample END frame (sent again, up to ``retries`` times, until the board takes it or is
        no longer inside a record, e.g. after a reset); its beats are ignored."""
        warn(f"{self.name} was inside an unfinished record (expecting sample {st.next}); ending it first")
        target = (st.ended + 1) & 0xFFFF
        for _ in range(self.retries + 1):
            self.send(P.encode_samples(st.next, [0], end=True))
            self.stats.frames += 1
            st = self.ping()
            if st.ended == target or st.next == 0:
                return st
        raise TernEcgError(f"{self.name} did not take the END frame that ends its unfinished record "
                           f"(it expects sample {st.next}); reset the board")

    def wait_idle(self, st: P.MonitorStatus) -> P.MonitorStatus:
        """PING until the board has finished every record it took the END of (``done`` =
        ``ended``); beats meanwhile are an earlier run's and ignored."""
        quiet_since, last = time.monotonic(), None
        while st.done != st.ended:
            progress = (st.beats, st.done)
            if progress != last:
                last, quiet_since = progress, time.monotonic()
            elif time.monotonic() - quiet_since > self.timeout * (self.retries + 1):
                raise TernEcgError(f"{self.name} did not finish its last record within "
                                   f"{self.timeout * (self.retries + 1):g} s; reset the board")
            time.sleep(min(0.05, self.timeout / 4))
            st = self.ping()
        return st

    def stream(self, signal, *, on_beat, realtime: bool = False, fs: int = FS, progress=None) -> dict:
        """Stream one record (raw samples, 0..2047) and return when the board has finished it;
        ``on_beat(beat)`` gets each beat once, as it arrives (in order, except for beats a
        damaged frame lost, which come when the record is streamed again). Returns ``{"samples",
        "seconds", "status", "beats"}``."""
        x = np.asarray(signal).astype(np.int64)
        total = len(x)
        st = self.ping()
        if st.next != 0:
            st = self.end_stale_record(st)
        st = self.wait_idle(st)
        log = BeatLog(on_beat)
        s = _Pass(st)
        resent = set()
        t0 = time.monotonic()
        poll = min(0.02, self.timeout / 10)

        while True:
            now = time.monotonic()
            # ---- send what the flow control and the pacing allow -------------------------------
            while not s.aborting and s.sent < total and s.credit >= P.CHUNK and not s.end_sent:
                n = min(P.CHUNK, total - s.sent)
                if realtime and time.monotonic() < t0 + (s.sent + n) / fs:
                    break
                end = s.sent + n == total
                self.send(P.encode_samples(s.sent, x[s.sent:s.sent + n], end=end))
                self.stats.frames += 1
                if s.sent in resent:
                    self.stats.resent_frames += 1
                resent.add(s.sent)
                s.frames += 1
                s.credit -= P.CHUNK
                s.sent += n
                s.end_sent = end
                s.since_ping += 1
                if s.since_ping >= PING_EVERY or end or s.credit < P.CHUNK:
                    self._ask(s)
                if progress:
                    progress(s.sent)
            # nothing in flight while waiting (room, the end of the record, an abort): ask, paced
            if not s.pings and (s.credit < P.CHUNK or s.end_sent or s.aborting) and now - s.asked >= poll:
                self._ask(s)
            # ---- read what the board says ------------------------------------------------------
            for msg in self.events(0.002 if realtime else poll):
                self._note(msg)
                if isinstance(msg, P.BeatEvent):
                    s.received += 1
                    if not s.aborting:
                        log.add(msg)
                    continue
                if not isinstance(msg, P.MonitorStatus) or msg.token not in s.pings:
                    continue                            # an earlier PING's answer, or not a STATUS
                at_sent, at_frames = s.pings.pop(msg.token)
                s.heard = time.monotonic()
                s.unanswered = 0
                self.status = msg
                ended = (msg.ended - s.base.ended) & 0xFFFF
                sent_beats = (msg.beats - s.base.beats) & 0xFFFFFFFF
                if sent_beats < s.received or ended > 1 or (ended == 0 and msg.next < s.acked):
                    warn(f"{self.name} was reset (it expects sample {msg.next} and has sent {msg.beats} beats; "
                         f"it had confirmed sample {s.acked}): streaming the record again from sample 0; the beats "
                         f"that come again are checked against those received")
                    self.stats.resets += 1
                    s = _Pass(msg)
                    continue
                if s.aborting:                          # ending the record early, to stream it again
                    if ended == 1 and msg.done == (s.base.done + 1) & 0xFFFF:
                        s = _Pass(msg)
                    elif ended == 0 and not s.pings:
                        self.send(P.encode_samples(msg.next, [0], end=True))
                        self._ask(s)
                    continue
                if sent_beats > s.received:             # a BEAT_EVENT was damaged on its way
                    self.stats.lost_beats += sent_beats - s.received
                    warn(f"{sent_beats - s.received} beat(s) from {self.name} were lost on the link (it sent "
                         f"{sent_beats}, {s.received} arrived): streaming the record again from sample 0 to "
                         f"get them")
                    s.abort(ended)
                    continue
                if ended == 1:                          # the END frame arrived: every sample is in
                    s.acked = total
                    if msg.done == (s.base.done + 1) & 0xFFFF:
                        return {"samples": total, "seconds": time.monotonic() - t0, "status": msg,
                                "beats": log.beats}
                    continue
                if msg.next < at_sent:                  # the frames from msg.next on were lost
                    self.stats.losses += 1
                    warn(f"the link lost SAMPLES frames from sample {msg.next} ({self.name} reported the gap in "
                         f"the sample index); sending again from there")
                    s.go_back(msg)
                    continue
                s.acked = max(s.acked, msg.next)
                s.credit = msg.room - P.CHUNK * (s.frames - at_frames)
            # ---- no progress (samples confirmed, beats, room) for long: the board is stuck -----
            mark = (s.acked, s.received, s.credit >= P.CHUNK, s.aborting, self.stats.resets)
            if mark != s.mark:
                s.mark, s.moved = mark, time.monotonic()
            elif time.monotonic() - s.moved > self.timeout * (self.retries + 1):
                raise TernEcgError(f"{self.name} made no progress for {self.timeout * (self.retries + 1):g} s "
                                   f"(sample {s.acked} of {total} confirmed, {s.received} beats); reset the board")
            # ---- nothing heard for a while: ask again ------------------------------------------
            if s.pings and time.monotonic() - s.heard > self.timeout:
                s.unanswered += 1
                if s.unanswered > self.retries:
                    raise TernEcgError(f"{self.name} stopped answering: {self.retries + 1} PINGs without a STATUS "
                                       f"within {self.timeout:g} s each (sample {s.acked} of {total} confirmed)")
                s.pings.clear()
                self._ask(s)

    def _ask(self, s: "_Pass"):
        if not s.pings:
            s.heard = time.monotonic()          # the answer's clock starts with the first PING in flight
        s.pings[self.ping_send()] = (s.sent, s.frames)
        s.asked = time.monotonic()
        s.since_ping = 0


class _Pass:
    """The host's view of one pass over a record (a reset of the board starts another)."""

    def __init__(self, st: P.MonitorStatus):
        self.base = st                  # the board's counters when the pass began
        self.received = 0               # BEAT_EVENTs received in this pass
        self.sent = 0                   # next sample index to send
        self.acked = 0                  # samples the board confirmed
        self.end_sent = False
        self.frames = 0                 # frames sent in this pass
        self.pings = {}                 # token -> (samples sent, frames sent) when it went out
        self.credit = st.room           # free buffer slots, as far as the host knows
        self.since_ping = 0
        self.asked = 0.0
        self.heard = time.monotonic()
        self.unanswered = 0
        self.aborting = False
        self.mark = None                # progress: see MonitorClient.stream
        self.moved = time.monotonic()

    def abort(self, ended: int):
        """End the record on the board early (an END frame at the index of the next fresh STATUS;
        none if it has its END already), ignore its beats until it is done, then stream it again."""
        self.aborting = True
        self.pings.clear()
        self.end_sent = ended == 1

    def go_back(self, st: P.MonitorStatus):
        """Send again from the board's index (the answers to earlier PINGs are ignored)."""
        self.pings.clear()
        self.sent = self.acked = st.next
        self.end_sent = False
        self.credit = st.room
        self.since_ping = 0


# ---- outputs and scoring --------------------------------------------------------------------

class BeatCsv:
    """``<record>_monitor.csv``: a header line (record, model, classes), the column names, then
    one flushed row ``sample,cls,logit0,...`` per beat as it arrives; ``# complete`` at the end."""

    def __init__(self, path, *, record, sha256, classes):
        self.path = Path(path)
        try:
            self._f = open(self.path, "w")
        except OSError as exc:
            raise TernEcgError(f"cannot write {self.path} ({exc.strerror or exc}); pass another --out") from None
        self._f.write(f"# ternecg monitor beats; record={record}; model_sha256={sha256}; "
                      f"classes={','.join(classes)}\n")
        self._f.write("sample,cls," + ",".join(f"logit{i}" for i in range(len(classes))) + "\n")
        self._f.flush()

    def add(self, beat: P.BeatEvent):
        self._f.write(",".join(str(v) for v in (beat.index, beat.cls, *beat.logits)) + "\n")
        self._f.flush()

    def close(self, complete=False):
        if complete:
            self._f.write("# complete\n")
        self._f.close()


def read_csv(path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(samples, classes, logits)`` of a ``<record>_monitor.csv``."""
    rows = [l for l in Path(path).read_text().splitlines() if l and not l.startswith("#")][1:]
    vals = np.array([[int(v) for v in r.split(",")] for r in rows], dtype=np.int64).reshape(len(rows), -1)
    return vals[:, 0], vals[:, 1], vals[:, 2:]


def output_paths(out, record) -> dict:
    """The outputs of one record, checked before anything is streamed (boards/host.py
    ``output_folder``)."""
    return output_folder(out, {"csv": f"{record}_monitor.csv", "annotations": f"{record}.{EXTENSION}",
                               "json": f"{record}_monitor.json", "png": f"{record}.png"},
                         default="build/monitor")


def ec57_report(classes, ref, ref_symbols, peaks, beat_classes, n_samples) -> dict:
    """EC57 figures of the board's beats against the reference beats (golden/ec57.py matching
    within 150 ms; golden/ec57_score.py as ``make monitor-eval``): detection Se / +P over the
    reference beats whose window lies inside the streamed samples, and for a four-class model
    (N, S, V, F) the confusion with its missed column and false-detection row, per-class Se / +P /
    FPR and the VEB / SVEB figures (AAMI Q beats not scored)."""
    from ternecg.golden import ec57, ec57_score
    from ternecg.golden.detected import aami4_labels
    from ternecg.golden.monitor import inside

    ref = np.asarray(ref, np.int64)
    peaks = np.asarray(peaks, np.int64)
    scored = inside(ref, n_samples)
    m = ec57.match(ref[scored], peaks)
    rep = {"detection": m.counts(), "reference_beats": int(scored.sum()), "beats": int(len(peaks))}
    lab = aami4_labels(ref_symbols)
    lab[~scored] = -1
    cm = ec57_score.confusion(ref, lab, peaks, beat_classes, n_decided=len(classes))
    rep["confusion"] = cm.tolist()
    if tuple(classes) == ec57_score.CLASSES:
        met = ec57_score.metrics(cm)
        rep.update({"acc": met["acc"], "classes": met["classes"], "missed": met["missed"], "false": met["false"],
                    **ec57_score.veb_sveb(cm)})
    return rep


def _f(v, d=4):
    return "-" if v is None else f"{v:.{d}f}"


def format_ec57(rep: dict, classes) -> str:
    d = rep["detection"]
    lines = [f"detection: {rep['beats']} beats against {rep['reference_beats']} reference beats: Se {_f(d['se'])}, "
             f"+P {_f(d['ppv'])} ({d['fn']} missed, {d['fp']} false)"]
    if "acc" in rep:
        c = rep["classes"]
        lines += ["| ACC | N Se | S Se | S +P | V Se | V +P | F Se | missed | false |",
                  "|---|---|---|---|---|---|---|---|---|",
                  f"| {_f(rep['acc'])} | {_f(c['N']['se'])} | {_f(c['S']['se'])} | {_f(c['S']['ppv'])} | "
                  f"{_f(c['V']['se'])} | {_f(c['V']['ppv'])} | {_f(c['F']['se'])} | {rep['missed']} | {rep['false']} |",
                  "| VEB Se | VEB +P | VEB FPR | SVEB Se | SVEB +P | SVEB FPR |", "|---|---|---|---|---|---|",
                  f"| {_f(rep['veb']['se'])} | {_f(rep['veb']['ppv'])} | {_f(rep['veb']['fpr'])} | "
                  f"{_f(rep['sveb']['se'])} | {_f(rep['sveb']['ppv'])} | {_f(rep['sveb']['fpr'])} |"]
    cols = list(classes) + ["o"]
    lines.append("confusion (rows: reference N S V F, X = false detection; columns: board, o = missed):")
    lines.append("     " + "".join(f"{c:>8}" for c in cols))
    for name, row in zip(["N", "S", "V", "F", "X"], rep["confusion"]):
        lines.append(f"{name:>5}" + "".join(f"{v:>8}" for v in row))
    return "\n".join(lines)


# ---- the run --------------------------------------------------------------------------------

def check_options(*, seconds=None, timeout=None, retries=None, baud=None):
    check_link_options(timeout=timeout, retries=retries, baud=baud)
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                or not math.isfinite(seconds) or seconds <= 0):
        raise TernEcgError(f"--seconds {seconds!r}: must be a number of seconds greater than 0")


def check_signal(signal, what: str) -> np.ndarray:
    x = np.asarray(signal)
    if x.ndim != 1 or len(x) < 240:
        raise TernEcgError(f"{what}: {len(x) if x.ndim == 1 else x.shape} samples; the monitor needs at least "
                           f"240 (one beat window)")
    if not np.issubdtype(x.dtype, np.integer) or x.min() < 0 or x.max() > P.SAMPLE_MAX:
        raise TernEcgError(f"{what}: samples must be integers 0..{P.SAMPLE_MAX} (11-bit MIT-BIH ADC codes)")
    return x.astype(np.int64)


def check_model(model):
    from ternecg.golden.spec import modelfile
    m = modelfile.load(model)
    if m.cfg.input_length != 240:
        raise TernEcgError(f"{m.path}: {m.cfg.input_length}-sample windows; the monitor cuts 240")
    return m


def run_signal(port, signal, record: str, *, model, ref=None, ref_symbols=None, out=None, baud=DEFAULT_BAUD,
               realtime=False, timeout=1.0, retries=5, serial_port=None, progress=True, source="") -> dict:
    """Stream ``signal`` (raw MLII of ``record``, 360 Hz) to the monitor board at ``port`` (or on
    ``serial_port``, any serial-like object) and write the outputs (module docstring); ``ref`` /
    ``ref_symbols``: the reference beats for the EC57 report. Returns the summary."""
    from ternecg.golden import annotate
    from ternecg.golden.spec.symbols import scheme
    from ternecg.paths import build_dir, relative

    check_link_options(timeout=timeout, retries=retries, baud=baud)
    out = build_dir("monitor") if out is None else Path(out)
    x = check_signal(signal, f"record {record}")
    m = check_model(model)
    sch = scheme(m.classes, source or relative(m.path))
    paths = output_paths(out, record)
    if serial_port is None:
        check_port(port)
    sp = serial_port if serial_port is not None else open_port(port, baud)
    client = MonitorClient(sp, timeout=timeout, retries=retries, name=f"the board on {port}" if port else "the board")
    csv = None
    bar = None
    try:
        st = client.ping()
        if st.version != P.VERSION_MONITOR:
            raise TernEcgError(f"the board reports protocol version {st.version}, not {P.VERSION_MONITOR}")
        if st.n_classes != len(m.classes):
            raise TernEcgError(f"the board classifies into {st.n_classes} classes but the model file {m.path} "
                               f"has {len(m.classes)}; pass the --model the bitstream was built from")
        if st.model_id != P.model_id(m.sha256):
            warn(f"the board's model id {st.model_id:08x} differs from {m.path} ({P.model_id(m.sha256):08x}): "
                 f"the bitstream holds another model")
        csv = BeatCsv(paths["csv"], record=record, sha256=m.sha256, classes=m.classes)
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(x), unit="sample", desc="streaming", unit_scale=True)
            last = [0]

            def progress_fn(n):
                bar.update(max(0, n - last[0]))
                last[0] = max(last[0], n)
        else:
            progress_fn = None
        try:
            res = client.stream(x, on_beat=csv.add, realtime=realtime, progress=progress_fn)
        except KeyboardInterrupt:
            raise TernEcgError(f"interrupted; the beats so far are in {paths['csv']}") from None
        csv.close(complete=True)
        csv = None
    finally:
        if bar is not None:
            bar.close()
        if csv is not None:
            csv.close()
        if serial_port is None:
            sp.close()
    beats = res["beats"]
    peaks = np.array([b.index for b in beats], dtype=np.int64)
    classes = np.array([b.cls for b in beats], dtype=np.int64)
    bad = [c for c in classes.tolist() if not 0 <= c < len(m.classes)]
    if bad:
        raise TernEcgError(f"the board sent class {bad[0]}, outside the model's {len(m.classes)} classes")
    ann = annotate.write(record, peaks, classes, m.classes, out, source or relative(m.path))
    symbols = [sch.symbol(c) for c in classes.tolist()]
    seconds_plot = 10.0
    start = annotate.default_start(peaks, symbols, seconds_plot)
    png = annotate.plot(paths["png"], x, peaks, symbols, start, seconds_plot,
                        f"record {record}: the monitor board ({relative(m.path)}; detections coloured, reference below)",
                        ref, ref_symbols)
    summary = {"record": record, "model": str(m.path), "model_sha256": m.sha256, "samples": len(x),
               "realtime": bool(realtime), "beats": len(beats),
               "per_class": {c: int((classes == i).sum()) for i, c in enumerate(m.classes)},
               "seconds": round(res["seconds"], 2),
               "samples_per_s": round(len(x) / res["seconds"], 1) if res["seconds"] else None,
               "board": {k: getattr(res["status"], k) for k in ("beats", "ended", "done", "overruns", "errors")},
               "link": client.stats.as_dict(), "annotations": str(ann), "beats_csv": str(paths["csv"]),
               "png": str(png)}
    if ref is not None:
        summary["ec57"] = ec57_report(m.classes, ref, ref_symbols, peaks, classes, len(x))
    tmp = paths["json"].with_name(paths["json"].name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(summary, indent=1) + "\n")
    os.replace(tmp, paths["json"])
    summary["peaks"], summary["classes"] = peaks, classes
    summary["logits"] = np.array([b.logits for b in beats], dtype=np.int64).reshape(len(beats), -1)
    return summary


def run_record(port, record: str, *, model=None, db=None, seconds=None, **kw) -> dict:
    """:func:`run_signal` on an MIT-BIH record (its first ``seconds`` only, when given)."""
    from ternecg.golden import ec57
    from ternecg.golden.records import RECORDS48, find_database, load_record

    check_options(seconds=seconds, timeout=kw.get("timeout"), retries=kw.get("retries"), baud=kw.get("baud"))
    record = str(record)
    if record not in RECORDS48:
        raise TernEcgError(f"unknown MIT-BIH record {record!r}; valid records are 100 ... 234")
    check_model(model)
    output_paths(kw.get("out") or _default_out(), record)
    if kw.get("serial_port") is None:
        check_port(port)
    rec = load_record(find_database(db), record)
    x = np.asarray(rec.signal)
    if seconds is not None:
        x = x[:int(round(seconds * FS))]
    beat = ec57.beat_mask(rec.symbols)
    ref, sym = rec.samples[beat], rec.symbols[beat]
    keep = ref < len(x)
    return run_signal(port, x, record, model=model, ref=ref[keep], ref_symbols=sym[keep], **kw)


def _default_out():
    from ternecg.paths import build_dir
    return build_dir("monitor")


def default_model() -> Path:
    """The monitor's model: the four-class inter-patient model, else the binary RR model."""
    from .top import default_model as board_default
    return board_default("monitor")


def add_parser(sub):
    """``ternecg monitor`` (``make monitor``)."""
    from ternecg import options
    from ternecg.paths import relative
    p = sub.add_parser("monitor", description=__doc__.split("\n")[0])
    p.add_argument("--port", required=True, help="serial port of the monitor board (e.g. /dev/ttyUSB1)")
    p.add_argument("--record", required=True, help="MIT-BIH record name, e.g. 208")
    p.add_argument("--realtime", action="store_true", help="pace the samples at 360 Hz (default: as fast as "
                                                           "the link allows)")
    p.add_argument("--seconds", type=options.positive_float, default=None,
                   help="only the record's first S seconds (default: all of it)")
    options.add_baud(p, default=DEFAULT_BAUD)
    options.add_model(p, what=f"the bitstream was built from (default: {relative(default_model())})")
    options.add_db(p)
    options.add_out(p, _default_out(), "writes <record>_monitor.csv (as beats arrive), <record>.mon, .png, "
                                       "<record>_monitor.json")
    p.add_argument("--timeout", metavar="S", type=options.positive_float, default=1.0,
                   help="seconds to wait for a STATUS before asking again (default: 1)")
    p.add_argument("--retries", metavar="N", type=options.nonnegative_int, default=5,
                   help="unanswered PINGs in a row before giving up (default: 5)")
    p.set_defaults(func=_command)
    return p


def _command(args):
    s = run_record(args.port, args.record, model=args.model or default_model(), db=args.db, seconds=args.seconds,
                   out=args.out, baud=args.baud, realtime=args.realtime, timeout=args.timeout, retries=args.retries)
    from ternecg.golden.spec import modelfile
    classes = modelfile.load(args.model or default_model()).classes
    if "ec57" in s:
        print(format_ec57(s["ec57"], classes))
    link = s["link"]
    print(f"{s['beats']} beats from {s['samples']} samples in {s['seconds']:.1f} s ({s['samples_per_s']} samples/s); "
          f"frames {link['frames']} ({link['resent_frames']} resent), losses {link['losses']}, resets "
          f"{link['resets']}, errors {link['errors']}")
    print(f"wrote {s['annotations']}, {s['beats_csv']}, {s['png']}")


if __name__ == "__main__":
    from ternecg.cli import command_main
    sys.exit(command_main("monitor")())
