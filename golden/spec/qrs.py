"""Constants and register widths of the streaming R-peak detector (docs/arithmetic.md, section 9).

Torch-free and numpy-free: :func:`qrs_params` derives every constant from the sampling rate
``fs`` (Hz, an integer) in one way, ``ms(t) = (t * fs + 500) // 1000`` (``t`` milliseconds,
rounded half up to samples), and the width of every register from worst-case bounds on 11-bit
input. The reference implementation is :mod:`ternecg.golden.qrs`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ternecg.errors import TernEcgError

#: Supported sampling rates (Hz), inclusive. Only 360 Hz (MIT-BIH) is validated on the database.
FS_MIN, FS_MAX = 100, 1000
#: Input: unsigned ADC codes of this many bits (0 .. 2047).
INPUT_BITS = 11
#: Time constants in milliseconds (each becomes ms(t, fs) samples).
TIMES_MS = {
    "lp_len": 17,  # each of the two cascaded moving sums (low-pass, first zero near 60 Hz)
    "deriv_lag": 10,  # derivative lag
    "mwi_len": 150,  # moving-window integration
    "peak_half": 167,  # candidate = largest m within +-167 ms (confirmed 167 ms later)
    "refine_lo": 164,  # R-peak search window: u[p - refine_lo .. p - refine_hi]
    "refine_hi": 28,
    "refractory": 200,
    "twave": 360,
    "learn": 2000,
    "rr_init": 800,
    "rr_min": 200,
    "rr_max": 2500,
}
#: |d| is shifted right by this before the pseudo-square (keeps the registers narrow).
E_SHIFT = 4


def ms(t_ms: int, fs: int) -> int:
    """``t_ms`` milliseconds in samples at ``fs`` Hz, rounded half up."""
    return (t_ms * fs + 500) // 1000


def _sbits(bound: int) -> int:
    """Bits of a two's complement register holding -bound .. bound."""
    return bound.bit_length() + 1


def _ubits(bound: int) -> int:
    return max(1, bound.bit_length())


def pseudo_square(e: int) -> int:
    """``e << (bitlength(e) - 1)`` (0 for 0): within a factor 2 below ``e * e``, one shift."""
    return e << (e.bit_length() - 1) if e > 0 else 0


@dataclass(frozen=True)
class QrsParams:
    """Every constant of the detector at one sampling rate (integers; lengths in samples)."""

    fs: int
    lp_len: int  # L1
    deriv_lag: int  # K
    mwi_len: int  # L3
    peak_half: int  # H
    refine_lo: int
    refine_hi: int
    refractory: int
    twave: int
    learn: int
    rr_init: int
    rr_min: int
    rr_max: int
    e_shift: int  # S
    table: int  # NT: candidate table capacity, enough for every case (see table_size)
    floor: int  # minimum of both thresholds (m units)
    # register widths in bits ("s" = two's complement, else unsigned)
    u_bits: int  # s
    a_bits: int  # s
    c_bits: int  # s
    d_bits: int  # s
    e_bits: int  # unsigned, after the shift
    q_bits: int  # unsigned
    m_bits: int  # unsigned; also SPK, NPK, M, thresholds, heights, valleys
    rr_bits: int  # RR average and clamped intervals
    rrlim_bits: int  # 3/2 of the RR average

    @property
    def latency(self) -> int:
        """Worst-case samples from an R peak to the sample that reports it, regular detection
        (the candidate at p is decided at p + H, and r >= p - refine_lo)."""
        return self.peak_half + self.refine_lo

    @property
    def flush(self) -> int:
        """Held samples :func:`ternecg.golden.qrs.detect` appends so that every regular
        detection inside the record is decided."""
        return self.latency

    @property
    def u_line(self) -> int:
        """Length of the u delay line (low-pass input and the R-peak search window)."""
        return max(self.lp_len, self.peak_half + self.refine_lo + 1)

    @property
    def state_bits(self) -> dict:
        """Bits of state per part, for planning the hardware (positions are ``pos_bits`` wide)."""
        pos = 32
        L1, K, L3, H = self.lp_len, self.deriv_lag, self.mwi_len, self.peak_half
        entry = 2 * pos + self.m_bits + self.e_bits + 1  # p, r, h, s, shallow bit
        b = {
            "x0 (first sample)": INPUT_BITS,
            "u delay line": self.u_line * self.u_bits,
            "a delay line": L1 * self.a_bits,
            "c delay line": K * self.c_bits,
            "e delay line (integration and slope)": (L3 + H) * self.e_bits,
            "m delay line (candidate window)": (2 * H + 1) * self.m_bits,
            "running sums a, c, m": self.a_bits + self.c_bits + self.m_bits,
            "valley minimum": self.m_bits,
            "M, SPK, NPK": 3 * self.m_bits,
            "RR average": self.rr_bits,
            "last beat r, p, slope; deadline; sample counter": 4 * pos + self.e_bits,
            "flags (phase, have_beat)": 2,
            f"candidate table ({self.table} entries + count)": self.table * entry + self.table.bit_length(),
        }
        b["total"] = sum(b.values())
        return b


def qrs_params(fs: int = 360) -> QrsParams:
    """The detector's constants at ``fs`` Hz (an integer in FS_MIN .. FS_MAX)."""
    if isinstance(fs, float) and fs.is_integer():
        fs = int(fs)
    if isinstance(fs, bool) or not isinstance(fs, int):
        raise TernEcgError(f"sampling rate must be an integer number of Hz, got {fs!r}")
    if not FS_MIN <= fs <= FS_MAX:
        raise TernEcgError(f"sampling rate {fs} Hz is not supported by the R-peak detector: it supports "
                           f"{FS_MIN} .. {FS_MAX} Hz (validated at 360 Hz, MIT-BIH); resample the signal")
    t = {k: ms(v, fs) for k, v in TIMES_MS.items()}
    L1, K, L3 = t["lp_len"], t["deriv_lag"], t["mwi_len"]
    ub = (1 << INPUT_BITS) - 1  # |u| = |x - x[0]| <= 2047
    ab = ub * L1
    cb = ab * L1
    db = 2 * ub * L1 * min(K, L1)  # c[n]-c[n-1] = a[n]-a[n-L1] is within +-2*ub*L1
    eb = db >> E_SHIFT
    qb = pseudo_square(eb)
    mb = qb * L3
    rrlim = t["rr_max"] + (t["rr_max"] >> 1)
    return QrsParams(
        fs=fs, e_shift=E_SHIFT, table=table_size(t["learn"], t["rr_init"], t["rr_max"], t["peak_half"]),
        floor=floor_for(fs, L1, K),
        u_bits=_sbits(ub), a_bits=_sbits(ab), c_bits=_sbits(cb), d_bits=_sbits(db), e_bits=_ubits(eb),
        q_bits=_ubits(qb), m_bits=_ubits(mb), rr_bits=_ubits(t["rr_max"]), rrlim_bits=_ubits(rrlim),
        **t,
    )


def table_size(learn: int, rr_init: int, rr_max: int, H: int) -> int:
    """NT: the most candidates the table can ever hold, so that it never overflows.

    Table entries always lie in an interval ``(anchor, deadline]`` of positions: ``[0, LEARN +
    RRLIM(RR0)]`` right after learning, later ``(last beat or failed deadline, + RRLIM]`` with
    ``RRLIM = RR + (RR >> 1) <= RRMAX + (RRMAX >> 1)``; candidates are more than H apart."""
    span = max(learn + rr_init + (rr_init >> 1), rr_max + (rr_max >> 1) - 1)
    return span // (H + 1) + 1


#: The threshold floor is the integrated pseudo-square of a ramp of FLOOR_CODES ADC codes rising
#: over FLOOR_MS: a QRS smaller than that is never a beat (a flat or lead-off input stays silent).
FLOOR_CODES, FLOOR_MS = 24, 25


def floor_for(fs: int, L1: int, K: int) -> int:
    """m of an isolated linear ramp of FLOOR_CODES codes over ms(FLOOR_MS) samples (exact
    integer simulation of the chain on that ramp; see docs/arithmetic.md section 9)."""
    n_ramp = max(1, ms(FLOOR_MS, fs))
    L3 = ms(TIMES_MS["mwi_len"], fs)
    length = n_ramp + 2 * L1 + K + L3 + 1
    u = [min(FLOOR_CODES, (FLOOR_CODES * i) // n_ramp) for i in range(length)]
    a = [sum(u[max(0, i - L1 + 1): i + 1]) for i in range(length)]
    c = [sum(a[max(0, i - L1 + 1): i + 1]) for i in range(length)]
    q = [pseudo_square(abs(c[i] - (c[i - K] if i >= K else 0)) >> E_SHIFT) for i in range(length)]
    return max(sum(q[max(0, i - L3 + 1): i + 1]) for i in range(length))
