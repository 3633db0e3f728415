"""The protocol fuzz (boards/fuzz.py): its stimulus keeps its timing rules and covers every error kind,
its checker counts every kind of problem, and a short run on the board core in Verilator is clean
(`make fuzz` runs 100,000 bytes)."""

import collections

import pytest

from ternecg.boards import fuzz
from ternecg.boards import protocol as P
from ternecg.golden import fixture

SHORT = dict(n_bytes=8000, seed=2)          # covers every error kind but BUSY (see below)
BEAT_GAP = 90_000


@pytest.fixture(scope="module")
def raws():
    return fixture.load()["raw"]


def test_stimulus_keeps_its_rules_and_covers_every_error(raws):
    stim = fuzz.generate(raws=raws, uart=False, beat_gap=BEAT_GAP, **SHORT)
    kinds = collections.Counter(P.ERROR_NAMES[c] for c, _ in stim.errors)
    assert set(kinds) == set(P.ERROR_NAMES.values()) - {"BUSY", "INDEX"}, kinds      # INDEX: version 2
    t = stim.timeout
    assert all(g <= t // 2 or g > t for _, _, g in stim.events)          # short, or a timeout
    ends = [c for _, _, c in stim.beats]
    assert all(b - a >= BEAT_GAP for a, b in zip(ends, ends[1:]))
    pings = [c for _, c in stim.pings]
    assert all(b - a >= fuzz.PING_SPACING for a, b in zip(pings, pings[1:]))
    assert all(seq < fuzz.DAMAGED_SEQ for seq, _, _ in stim.beats) and stim.frames_damaged > 5
    assert stim.bytes >= SHORT["n_bytes"] and len(stim.beats) >= 2
    # the prediction is the board's: replaying the events gives the same errors
    replay = fuzz.predict(stim.events, rr_bits=0, timeout=t, uart=False)
    assert [(o[1], o[2]) for o in replay if o[0] in ("error", "range")] == stim.errors


def _lines(frames):
    """Harness output: (cycle, frame bytes) -> "cycle byte" lines, then the end line."""
    out = []
    for cycle, data in frames:
        out += [f"{cycle + k} {b:02x}" for k, b in enumerate(data)]
    return out + [f"end {cycle + 1000} 0"]


def test_checker_counts_every_kind_of_problem():
    stim = fuzz.Stimulus(uart=False, timeout=1000, beats=[(0, 0, 100), (1, 1, 200)],
                         pings=[(5, 150), (6, 9000)], errors=[(P.E_SYNC, 3), (P.E_CRC, 1)])
    want = {0: (1, [10, -3], 500), 1: (0, [-2, 7], 600)}

    def result(seq, cls=1, logits=(10, -3), cycles=500):
        return P.encode(P.RESULT, P.result_payload(seq, cls, list(logits), cycles))

    def status(token, beats=2, errors=2):
        return P.encode(P.STATUS, P.status_payload(token, 2, 1, beats, errors, 0))
    good = [(160, status(5, 0, 1)), (300, P.encode(P.ERROR, bytes([P.E_CRC, 1]))),
            (1000, result(0)), (2000, result(1, 0, (-2, 7), 600)), (9100, status(6))]
    r = fuzz.check(stim, _lines(good), want)
    assert all(r[k] == 0 for k in fuzz.MUST_BE_ZERO) and r["results_checked"] == 2 and fuzz.ok(r)

    def bad(frames, **counts):
        r = fuzz.check(stim, _lines(sorted(frames)), want)
        assert {k: r[k] for k in counts} == counts
        assert not fuzz.ok(r)
    bad(good + [(2500, result(1, 0, (-2, 7), 600))], duplicated=1)
    bad(good + [(2500, result(130))], results_for_damaged=1)
    bad([f for f in good if f[0] != 2000], lost_unpredicted=1)
    bad([f if f[0] != 2000 else (2000, result(1, 0, (-2, 8), 600)) for f in good], wrong=1)
    bad([f for f in good if f[0] != 9100], hangs=1)                          # not answered
    bad([f if f[0] != 9100 else (12000, status(6)) for f in good], hangs=1)  # answered too late
    bad(good + [(400, P.encode(P.ERROR, bytes([P.E_TIMEOUT, 0])))], error_frames_unpredicted=1)
    bad([f if f[0] != 9100 else (9100, status(6, errors=3)) for f in good], error_counts_match=False)


@pytest.mark.sim
def test_short_fuzz_on_the_board_core():
    """A few thousand bytes through the board core without the UART, every error kind among them:
    every valid beat one bit-exact RESULT, nothing for damaged frames, every PING answered, the
    error events counted as predicted."""
    report = fuzz.run(uart=False, **SHORT)
    assert fuzz.ok(report), report
    assert report["results_checked"] == report["frames_valid"] >= 2
    assert report["statuses"] == report["pings"] >= 3


def test_stimulus_of_a_five_code_model(raws, template_model_5):
    """A model with the template and the irregularity codes (F = 5): the fuzz's codes are the
    fixture's three interval codes and two drawn ones, its BEAT_RR frames carry five (481 + 5
    bytes), and its stimulus still covers every error kind as predicted for a five-code board."""
    import numpy as np

    from ternecg.golden.spec import modelfile
    m = modelfile.load(template_model_5)
    fx = fixture.load()
    rr = fuzz.fixture_codes(fx, m.cfg, seed=SHORT["seed"])
    assert rr.shape == (len(raws), 5) and np.array_equal(rr[:, :3], fx["rr"]) and 0 <= rr.min() <= rr.max() < 16
    stim = fuzz.generate(raws=raws, rr=rr, rr_bits=m.cfg.rr_bits, uart=False, beat_gap=BEAT_GAP, **SHORT)
    kinds = {P.ERROR_NAMES[c] for c, _ in stim.errors}
    assert {"LENGTH", "RANGE", "CRC", "TYPE"} <= kinds and len(stim.beats) >= 2
    replay = fuzz.predict(stim.events, rr_bits=m.cfg.rr_bits, timeout=stim.timeout, uart=False, n_codes=5)
    assert [(o[1], o[2]) for o in replay if o[0] in ("error", "range")] == stim.errors
    assert sum(o[0] == "beat" for o in replay) == len(stim.beats)
    # a four-code board refuses every one of these beats (LENGTH)
    four = fuzz.predict(stim.events, rr_bits=m.cfg.rr_bits, timeout=stim.timeout, uart=False, n_codes=4)
    assert not [o for o in four if o[0] == "beat"]


@pytest.mark.sim
@pytest.mark.long
def test_short_fuzz_on_a_five_code_board_core(template_model_5):
    """The short fuzz on the board core of a model with the template and the irregularity codes
    (BEAT_RR of 486 bytes): every valid beat one bit-exact RESULT (the integer reference on the
    same five codes), nothing for damaged frames, every PING answered."""
    report = fuzz.run(model=template_model_5, uart=False, **SHORT)
    assert fuzz.ok(report), report
    assert report["results_checked"] == report["frames_valid"] >= 2


def test_cli_rejects_a_tiny_run(capsys):
    from ternecg.cli import main
    assert main(["fuzz", "--bytes", "5"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "ternecg fuzz: error: --bytes must be at least 1000 (a PING, a beat and some damage), not 5"]
