"""The streaming integer R-peak detector: the golden specification (docs/arithmetic.md, section 9).

Numpy only (no torch). Two implementations that give exactly the same peaks:

* :class:`QrsStream` — one sample at a time with explicit state (delay lines, running sums,
  thresholds, the candidate table): what the hardware mirrors.
  ``push(x) -> [R-peak samples decided at this sample]``; ``finish()`` ends a record.
* :func:`detect` — a whole record: the filters vectorised with numpy, Python only per candidate
  peak (all 48 MIT-BIH records in well under a minute).

Both feed the same per-candidate logic, :class:`Decider` (thresholds, refractory period, T-wave
and valley checks, search-back), which runs once per candidate peak or deadline, not per sample.

Signal chain (all integers): u = x - x[0]; two cascaded moving sums (low-pass); a derivative;
|d| >> 4; a pseudo-square (a data-dependent left shift, no multiplier); a moving-window integral
m; candidates = local maxima of m within +-167 ms; the R peak = the extremum of u in a window
before the maximum of m.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from ternecg.errors import TernEcgError

from .spec.qrs import INPUT_BITS, QrsParams, pseudo_square, qrs_params

LEARN, RUN = 0, 1


@dataclass(frozen=True)
class Candidate:
    """A confirmed local maximum of the integrated signal ``m`` and its features."""
    p: int  # sample of the maximum of m
    r: int  # R-peak sample (extremum of u in the search window)
    h: int  # m[p]
    s: int  # slope: max e over [p - L3 + 1, p]
    v: int  # valley: min m over (previous candidate, p)


class Decider:
    """The per-candidate logic (section 9.4 of the spec). All state is integers and a table of at
    most ``P.table`` candidates; ``out`` collects the R peaks and ``out_t`` the position ``t`` at
    which each was decided (it is reported at sample ``t + H``)."""

    def __init__(self, P: QrsParams):
        self.P = P
        self.phase = LEARN
        self.M = 0  # learning maximum of h
        self.spk = 0
        self.npk = 0
        self.rr = P.rr_init
        self.have_beat = False
        self.last_r = 0
        self.last_p = 0
        self.last_s = 0
        self.deadline = 0
        self.table: list[Candidate] = []
        self.out: list[int] = []
        self.out_t: list[int] = []
        self.out_search: list[bool] = []

    # thresholds ----------------------------------------------------------------------------------
    def thr1(self) -> int:
        return max(self.npk + ((self.spk - self.npk) >> 2), self.P.floor)

    def thr2(self) -> int:
        return max(self.thr1() >> 1, self.P.floor)

    def rr_limit(self) -> int:
        return self.rr + (self.rr >> 1)

    # the table -------------------------------------------------------------------------------------
    def _table_add(self, c: Candidate) -> None:
        if len(self.table) >= self.P.table:  # impossible by construction (spec.qrs.table_size)
            raise RuntimeError(f"R-peak detector: candidate table overflow at p = {c.p} (a bug)")
        self.table.append(c)

    # checks ----------------------------------------------------------------------------------------
    def _is_twave(self, c: Candidate) -> bool:
        return self.have_beat and c.r - self.last_r < self.P.twave and c.s < (self.last_s >> 1)

    @staticmethod
    def _shallow(c: Candidate) -> bool:
        """No quiet interval before it: the valley is above 3/16 of the peak."""
        return c.v > (c.h >> 3) + (c.h >> 4)

    def _noise(self, c: Candidate) -> None:
        self.npk += (c.h - self.npk) >> 3

    # events ----------------------------------------------------------------------------------------
    def candidate(self, c: Candidate, t: int) -> None:
        """Candidate ``c`` confirmed at position ``t = c.p`` (sample ``c.p + H``)."""
        if self.phase == LEARN:
            self.M = max(self.M, c.h)
            self._table_add(c)
            return
        self._classify(c, t)

    def _classify(self, c: Candidate, t: int) -> None:
        if self.have_beat and c.r - self.last_r < self.P.refractory:
            return
        if c.h >= self.thr1():
            if self._shallow(c):
                self._noise(c)
                self._table_add(c)
                return
            if self._is_twave(c):
                self._noise(c)
                return
            self._accept(c, t, search=False)
        else:
            self._noise(c)
            self._table_add(c)

    def _accept(self, c: Candidate, t: int, search: bool) -> None:
        P = self.P
        if self.have_beat:
            rr = min(max(c.r - self.last_r, P.rr_min), P.rr_max)
            self.rr += (rr - self.rr) >> 3
        if c.h > self.spk:
            self.spk += (c.h - self.spk) >> 4
        else:
            self.spk += (c.h - self.spk) >> (2 if search else 3)
        self.have_beat = True
        self.last_r, self.last_p, self.last_s = c.r, c.p, c.s
        self.deadline = c.p + self.rr_limit()
        self.table = [e for e in self.table if e.p > c.p]
        self.out.append(c.r)
        self.out_t.append(t)
        self.out_search.append(search)

    def tick(self, t: int) -> None:
        """Once per position ``t`` (sample ``t + H``), after its candidate if it has one."""
        if self.phase == LEARN:
            if t >= self.P.learn:
                self.phase = RUN
                self.spk = self.M >> 1
                self.npk = self.M >> 3
                self.deadline = t + self.rr_limit()
                stored, self.table = self.table, []
                for c in stored:
                    self._classify(c, t)
            return
        while t >= self.deadline:
            best = self._search_back()
            if best is None:
                self.spk -= self.spk >> 2
                self.npk -= self.npk >> 2
                self.deadline = t + self.rr_limit()
                self.table = []
                return
            self._accept(best, t, search=True)

    def _search_back(self):
        thr2 = self.thr2()
        best = None
        for c in self.table:  # time order: the first of equal heights wins
            if c.h < thr2 or self._shallow(c) or self._is_twave(c):
                continue
            if self.have_beat and c.r - self.last_r < self.P.refractory:
                continue
            if best is None or c.h > best.h:
                best = c
        return best


# ------------------------------------------------------------------------------------------------
def _params(fs, params) -> QrsParams:
    if params is not None:
        if fs is not None and int(fs) != params.fs:
            raise TernEcgError(f"sampling rate mismatch: the signal is at {fs} Hz but the detector "
                               f"parameters are for {params.fs} Hz")
        return params
    return qrs_params(360 if fs is None else fs)


def check_signal(signal) -> np.ndarray:
    """The signal as int64 ADC codes, or one clear error."""
    x = np.asarray(signal)
    if x.ndim != 1:
        raise TernEcgError(f"the R-peak detector takes one lead (a 1-D array), got shape {x.shape}")
    if x.size and not (np.issubdtype(x.dtype, np.integer) or x.dtype == bool):
        raise TernEcgError(f"the R-peak detector takes integer ADC codes (0 .. {(1 << INPUT_BITS) - 1}), "
                           f"got {x.dtype} values (physical units?)")
    x = x.astype(np.int64)
    if x.size and (x.min() < 0 or x.max() >= (1 << INPUT_BITS)):
        raise TernEcgError(f"ADC codes must be unsigned {INPUT_BITS}-bit (0 .. {(1 << INPUT_BITS) - 1}), "
                           f"got {int(x.min())} .. {int(x.max())}")
    return x


#: A record shorter than one beat window (golden/beats.py) cannot give a single beat.
MIN_SAMPLES = 240


def check_record(signal) -> np.ndarray:
    """:func:`check_signal`, and at least MIN_SAMPLES samples (one 240-sample beat window)."""
    x = check_signal(signal)
    if len(x) < MIN_SAMPLES:
        raise TernEcgError(f"record of {len(x)} samples is shorter than one beat window ({MIN_SAMPLES} samples); "
                           f"the detector needs at least that much signal")
    return x


def _msum(v: np.ndarray, n: int) -> np.ndarray:
    """Causal moving sum of length n, zero before the start."""
    c = np.concatenate([np.zeros(1, np.int64), np.cumsum(v)])
    out = c[1:].copy()
    out[n:] -= c[1:-n]
    return out


def _pseudo_square(e: np.ndarray) -> np.ndarray:
    q = np.zeros_like(e)
    nz = e > 0
    bl = np.zeros_like(e)
    # bit length without floats: count the shifts until zero
    v = e.copy()
    while np.any(v):
        bl += v > 0
        v >>= 1
    q[nz] = e[nz] << (bl[nz] - 1)
    return q


def filters(x: np.ndarray, P: QrsParams):
    """Vectorised ``u, e, m`` of a whole signal (int64 arrays)."""
    u = x - x[0]
    a = _msum(u, P.lp_len)
    c = _msum(a, P.lp_len)
    d = c.copy()
    d[P.deriv_lag:] -= c[: len(c) - P.deriv_lag]
    e = np.abs(d) >> P.e_shift
    m = _msum(_pseudo_square(e), P.mwi_len)
    return u, e, m


def _window_max(v: np.ndarray, w: int) -> np.ndarray:
    """out[i] = max(v[i : i + w])."""
    from numpy.lib.stride_tricks import sliding_window_view
    return sliding_window_view(v, w).max(axis=1)


def candidates(m: np.ndarray, H: int) -> np.ndarray:
    """Positions p with m[p] > m[j] for p-H <= j < p (m = 0 before the start) and m[p] >= m[j]
    for p < j <= p+H (only p + H inside the signal can be confirmed)."""
    n = len(m)
    if n <= H:
        return np.zeros(0, np.int64)
    left = _window_max(np.concatenate([np.zeros(H, np.int64), m[:-1]]), H)  # m[p-H .. p-1]
    right = _window_max(m[1:], H)  # m[p+1 .. p+H], p = 0 .. n-1-H
    k = n - H
    ok = (m[:k] > left[:k]) & (m[:k] >= right[:k])
    return np.flatnonzero(ok)


def refine(u: np.ndarray, p: int, P: QrsParams) -> int:
    """R-peak sample of the candidate at p: in u[lo .. hi] (lo = max(p - refine_lo, 0),
    hi = max(p - refine_hi, 0)) the first sample farthest from (u[lo] + u[hi]) >> 1."""
    lo = max(p - P.refine_lo, 0)
    hi = max(p - P.refine_hi, 0)
    w = u[lo: hi + 1]
    base = (int(w[0]) + int(w[-1])) >> 1
    return lo + int(np.argmax(np.abs(w - base)))


def detect(signal, fs: int | None = 360, params: QrsParams | None = None, info: bool = False):
    """R-peak samples of a whole record (int64, increasing; at least MIN_SAMPLES samples of
    unsigned 11-bit codes, else one TernEcgError): exactly what :class:`QrsStream`
    reports after pushing every sample and ``finish()`` (``P.flush`` copies of the last sample;
    peaks at or after the end dropped). With ``info=True`` also returns a dict with, per peak,
    the sample at which it was decided and whether search-back found it."""
    P = _params(fs, params)
    x = check_record(signal)
    n = len(x)
    x = np.concatenate([x, np.full(P.flush, x[-1], np.int64)])
    u, e, m = filters(x, P)
    H, L3 = P.peak_half, P.mwi_len
    cand = candidates(m, H)
    D = Decider(P)
    t_end = len(x) - 1 - H
    prev = -1
    ci, nc = 0, len(cand)
    t = 0
    while t <= t_end:
        if ci < nc and cand[ci] == t:
            p = t
            v = int(m[prev + 1: p].min()) if p > prev + 1 else 0
            s = int(e[max(p - L3 + 1, 0): p + 1].max())
            D.candidate(Candidate(p=p, r=refine(u, p, P), h=int(m[p]), s=s, v=v), t)
            prev = p
            ci += 1
        D.tick(t)
        nxt = int(cand[ci]) if ci < nc else t_end + 1
        nxt = min(nxt, P.learn if D.phase == LEARN else D.deadline)
        t = max(nxt, t + 1)
    r = np.asarray(D.out, dtype=np.int64)
    keep = r < n
    if not info:
        return r[keep]
    return r[keep], {"decided": (np.asarray(D.out_t, dtype=np.int64) + H)[keep],
                     "search": np.asarray(D.out_search, dtype=bool)[keep]}


class QrsStream:
    """The detector one sample at a time (what the hardware does per sample).

    ``push(x)`` takes one ADC code and returns the R-peak samples decided at this sample (usually
    none, sometimes one, a few after the learning period or a search-back). Delay lines are
    deques of fixed length, zero-filled (the signal is zero before the start after the offset
    ``x[0]`` is removed).
    """

    def __init__(self, fs: int = 360, params: QrsParams | None = None):
        self.P = P = _params(fs, params)
        self.n = 0  # samples pushed
        self.x0 = 0
        self.last_x = 0
        self.u_line = deque([0] * P.u_line, maxlen=P.u_line)  # u_line[-1] = u[n]
        self.a_line = deque([0] * P.lp_len, maxlen=P.lp_len)
        self.c_line = deque([0] * P.deriv_lag, maxlen=P.deriv_lag)
        self.e_line = deque([0] * (P.mwi_len + P.peak_half), maxlen=P.mwi_len + P.peak_half)
        self.m_line = deque([0] * (2 * P.peak_half + 1), maxlen=2 * P.peak_half + 1)
        self.a = self.c = self.m = 0
        self.vmin = None  # running valley minimum (None = no sample since the last candidate)
        self.decider = Decider(P)

    def push(self, x: int) -> list[int]:
        P = self.P
        x = int(x)
        if not 0 <= x < (1 << INPUT_BITS):
            raise TernEcgError(f"ADC code {x} is not unsigned {INPUT_BITS}-bit (0 .. {(1 << INPUT_BITS) - 1})")
        if self.n == 0:
            self.x0 = x
        self.last_x = x
        u = x - self.x0
        # low-pass: two moving sums of L1 (the lines hold the last L1 inputs of each)
        self.a += u - self.u_line[-P.lp_len]
        self.u_line.append(u)
        self.c += self.a - self.a_line[0]
        self.a_line.append(self.a)
        d = self.c - self.c_line[0]
        self.c_line.append(self.c)
        e = abs(d) >> P.e_shift
        self.m += pseudo_square(e) - pseudo_square(self.e_line[-P.mwi_len])
        self.e_line.append(e)
        self.m_line.append(self.m)
        n = self.n
        self.n += 1
        H = P.peak_half
        t = n - H  # the position decided now: m_line[H] = m[t]
        if t < 0:
            return []
        D = self.decider
        before = len(D.out)
        mt = self.m_line[H]
        is_cand = all(mt > self.m_line[j] for j in range(H)) and all(mt >= self.m_line[j] for j in range(H + 1, 2 * H + 1))
        if is_cand:
            v = 0 if self.vmin is None else self.vmin
            # e_line[-1] = e[n]; e[t - k] = e_line[-1 - H - k]
            s = max(self.e_line[-1 - H - k] for k in range(min(P.mwi_len, t + 1)))
            D.candidate(Candidate(p=t, r=self._refine(t), h=mt, s=s, v=v), t)
            self.vmin = None
        else:
            self.vmin = mt if self.vmin is None else min(self.vmin, mt)
        D.tick(t)
        return D.out[before:]

    def _refine(self, p: int) -> int:
        P = self.P
        n = self.n - 1
        lo = max(p - P.refine_lo, 0)
        hi = max(p - P.refine_hi, 0)
        uat = lambda j: self.u_line[j - n - 1]  # u[j] for n - len < j <= n
        base = (uat(lo) + uat(hi)) >> 1
        best, r = -1, lo
        for j in range(lo, hi + 1):
            dev = abs(uat(j) - base)
            if dev > best:
                best, r = dev, j
        return r

    def finish(self) -> list[int]:
        """End of the record: push ``P.flush`` copies of the last sample; return the peaks decided
        meanwhile that lie inside the record."""
        n = self.n
        out = []
        for _ in range(self.P.flush if n else 0):
            out.extend(self.push(self.last_x))
        return [r for r in out if r < n]
