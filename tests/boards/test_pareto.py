"""The Pareto plot of `make hw-report` (boards/pareto.py): the front on a synthetic list, and the PNG
written, byte-identical for the same rows."""

import pytest

from ternecg.boards.pareto import pareto_front, write_pareto
from ternecg.errors import TernEcgError


def test_front_on_a_synthetic_list():
    pts = [(100, 10, "a"), (200, 30, "b"), (150, 5, "c"), (200, 20, "d"), (300, 30, "e"), (400, 80, "f"),
           (90, 1, "g")]
    assert [p[2] for p in pareto_front(pts)] == ["g", "a", "b", "f"]
    assert pareto_front([]) == []


def test_png_written_and_deterministic(tmp_path):
    rows = [{"device": "up5k", "parallel": p, "lc": 1400 + 300 * p, "beats_per_s": 370.0 * p} for p in (1, 2, 6)]
    rows += [{"device": "ecp5-85f", "parallel": 36, "lc": 13000, "beats_per_s": 19000.0},
             {"device": "ecp5-85f", "parallel": 48, "lc": 16000, "beats_per_s": None}]
    a = write_pareto(rows, tmp_path / "a.png")
    b = write_pareto(rows, tmp_path / "sub" / "b.png")
    data = a.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert data == b.read_bytes()
    assert b"Software" not in data and b"matplotlib" not in data


def test_nothing_to_plot(tmp_path):
    with pytest.raises(TernEcgError, match="no setting with a throughput"):
        write_pareto([{"device": "up5k", "parallel": 1, "lc": 1, "beats_per_s": None}], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
