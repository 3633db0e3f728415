"""Conformance: an independent implementation of docs/arithmetic.md section 9, written from that
page alone (no code from golden/qrs.py), against the reference on the fixture excerpts.

It follows the page literally: the filters as the sums they are defined as (np.convolve with a
box, not running sums), the candidate test as the two inequalities, the decision procedure step
by step with plain Python containers.
"""

import numpy as np
import pytest

from ternecg.golden import excerpts
from ternecg.golden import qrs as reference


def ms(t, fs):
    return (t * fs + 500) // 1000


def pseudo_square(e):
    return e << (e.bit_length() - 1) if e > 0 else 0


def chain(u, L1, K, L3, S):
    """u -> e, m per section 9.2 (signals zero before index 0)."""
    n = len(u)
    box = lambda v, L: np.convolve(v, np.ones(L, dtype=np.int64))[:n]  # sum of v[n-L+1 .. n]
    a = box(u, L1)
    c = box(a, L1)
    cK = np.concatenate([np.zeros(K, np.int64), c])[:n]
    e = [int(v) >> S for v in np.abs(c - cK)]
    q = np.array([pseudo_square(v) for v in e], dtype=np.int64)
    return e, [int(v) for v in box(q, L3)]


def spec_floor(fs, L1, K, L3, S):
    nr = max(1, ms(25, fs))
    u = np.array([min(24, (24 * i) // nr) for i in range(nr + 2 * L1 + K + L3 + 1)], dtype=np.int64)
    return max(chain(u, L1, K, L3, S)[1])


def spec_detect(x, fs=360):
    """Section 9 from scratch: returns (peaks, sample at which each was reported)."""
    L1, K, L3, H = ms(17, fs), ms(10, fs), ms(150, fs), ms(167, fs)
    Rlo, Rhi, REF, TW, LRN = ms(164, fs), ms(28, fs), ms(200, fs), ms(360, fs), ms(2000, fs)
    RR0, RRMIN, RRMAX, S = ms(800, fs), ms(200, fs), ms(2500, fs), 4
    NT = max(LRN + RR0 + (RR0 >> 1), RRMAX + (RRMAX >> 1) - 1) // (H + 1) + 1
    F = spec_floor(fs, L1, K, L3, S)
    N = len(x)
    x = [int(v) for v in x] + [int(x[-1])] * (Rlo + H)  # 9.5: hold the last sample
    u = np.array([v - x[0] for v in x], dtype=np.int64)
    e, m = chain(u, L1, K, L3, S)
    mm = lambda j: m[j] if j >= 0 else 0

    st = dict(phase="LEARN", M=0, SPK=0, NPK=0, RR=RR0, have=False, lr=0, lp=0, ls=0, dl=0)
    table = []
    reported = []

    def thr1():
        return max(st["NPK"] + ((st["SPK"] - st["NPK"]) >> 2), F)

    def thr2():
        return max(thr1() >> 1, F)

    def rrlim():
        return st["RR"] + (st["RR"] >> 1)

    def refr(c):
        return st["have"] and c["r"] - st["lr"] < REF

    def twave(c):
        return st["have"] and c["r"] - st["lr"] < TW and c["s"] < (st["ls"] >> 1)

    def shallow(c):
        return c["v"] > (c["h"] >> 3) + (c["h"] >> 4)

    def noise(c):
        st["NPK"] = st["NPK"] + ((c["h"] - st["NPK"]) >> 3)

    def table_add(c):
        table.append(c)
        assert len(table) <= NT, "the page says the table never holds more than NT"

    def accept(c, search, n):
        if st["have"]:
            i = min(max(c["r"] - st["lr"], RRMIN), RRMAX)
            st["RR"] = st["RR"] + ((i - st["RR"]) >> 3)
        if c["h"] > st["SPK"]:
            st["SPK"] = st["SPK"] + ((c["h"] - st["SPK"]) >> 4)
        else:
            st["SPK"] = st["SPK"] + ((c["h"] - st["SPK"]) >> (2 if search else 3))
        st.update(have=True, lr=c["r"], lp=c["p"], ls=c["s"])
        st["dl"] = c["p"] + rrlim()
        table[:] = [t for t in table if t["p"] > c["p"]]
        reported.append((c["r"], n))

    def classify(c, n):
        if refr(c):
            return
        if c["h"] >= thr1():
            if shallow(c):
                noise(c)
                table_add(c)
            elif twave(c):
                noise(c)
            else:
                accept(c, False, n)
        else:
            noise(c)
            table_add(c)

    def search():
        best = None
        for c in table:
            if c["h"] >= thr2() and not shallow(c) and not twave(c) and not refr(c):
                if best is None or c["h"] > best["h"]:
                    best = c
        return best

    prev = -1
    for n in range(H, len(x)):
        t = n - H
        is_cand = all(m[t] > mm(j) for j in range(t - H, t)) and all(m[t] >= m[j] for j in range(t + 1, t + H + 1))
        if is_cand:
            lo, hi = max(t - Rlo, 0), max(t - Rhi, 0)
            b = (int(u[lo]) + int(u[hi])) >> 1
            devs = [abs(int(u[j]) - b) for j in range(lo, hi + 1)]
            r = lo + devs.index(max(devs))
            valley = m[prev + 1: t]
            c = dict(p=t, r=r, h=m[t], s=max(e[max(t - L3 + 1, 0): t + 1]), v=min(valley) if valley else 0)
            prev = t
            if st["phase"] == "LEARN":
                st["M"] = max(st["M"], c["h"])
                table_add(c)
            else:
                classify(c, n)
        if st["phase"] == "LEARN":
            if t >= LRN:
                st.update(phase="RUN", SPK=st["M"] >> 1, NPK=st["M"] >> 3)
                st["dl"] = t + rrlim()
                stored = list(table)
                table.clear()
                for c in stored:
                    classify(c, n)
        else:
            while t >= st["dl"]:
                best = search()
                if best is None:
                    st["SPK"] -= st["SPK"] >> 2
                    st["NPK"] -= st["NPK"] >> 2
                    st["dl"] = t + rrlim()
                    table.clear()
                    break
                accept(best, True, n)
    peaks = [(r, n) for r, n in reported if r < N]
    return np.array([r for r, _ in peaks], dtype=np.int64), np.array([n for _, n in peaks], dtype=np.int64)


@pytest.fixture(scope="module")
def fixture_excerpts():
    return excerpts.load()


def test_floor_and_constants_match_the_page():
    from ternecg.golden.spec.qrs import qrs_params
    P = qrs_params(360)
    assert P.floor == spec_floor(360, 6, 4, 54, 4) == 2498
    assert (P.lp_len, P.deriv_lag, P.mwi_len, P.peak_half, P.refine_lo, P.refine_hi) == (6, 4, 54, 60, 59, 10)
    assert (P.refractory, P.twave, P.learn, P.rr_init, P.rr_min, P.rr_max) == (72, 130, 720, 288, 72, 900)
    assert P.latency == 119 and P.table == 23


@pytest.mark.parametrize("index", range(4))
def test_page_matches_reference_on_excerpts(fixture_excerpts, index):
    ex = fixture_excerpts[index]
    peaks, when = spec_detect(ex.signal)
    ref, info = reference.detect(ex.signal, info=True)
    assert len(peaks) > 50
    np.testing.assert_array_equal(peaks, ref)
    np.testing.assert_array_equal(when, info["decided"])  # reported at the same sample too


def test_page_matches_reference_on_a_noisy_start(fixture_excerpts):
    """A short stretch with a synthetic artefact at the start (learning period and decay paths)."""
    x = fixture_excerpts[0].signal[:9000].astype(np.int64)
    x[100:400] = 2047
    x[3000:3600] = np.clip(x[3000:3600] + ((np.arange(600) * 37) % 301) - 150, 0, 2047)
    peaks, _ = spec_detect(x)
    np.testing.assert_array_equal(peaks, reference.detect(x))
