"""update_json: concurrent updaters keep every key."""

import json
import multiprocessing

from ternecg.reports import update_json


def _add(path, tag, n):
    for i in range(n):
        update_json(path, lambda d: {**d, f"{tag}{i}": i})


def test_two_processes_lose_nothing(tmp_path):
    path = tmp_path / "sub" / "report.json"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_add, args=(path, tag, 30)) for tag in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0, 0]
    data = json.loads(path.read_text())
    assert sorted(data) == sorted(f"{t}{i}" for t in "ab" for i in range(30))
    assert not list(path.parent.glob("*.tmp"))


def test_returns_the_written_value(tmp_path):
    path = tmp_path / "r.json"
    assert update_json(path, lambda d: {"runs": d.get("runs", []) + [1]}) == {"runs": [1]}
    assert update_json(path, lambda d: {"runs": d.get("runs", []) + [2]}) == {"runs": [1, 2]}
    assert json.loads(path.read_text()) == {"runs": [1, 2]}


def test_a_corrupt_report_is_one_clear_error(tmp_path):
    import pytest

    from ternecg.errors import TernEcgError
    from ternecg.reports import read_json
    bad = tmp_path / "train.json"
    bad.write_text('{"seconds": ')
    with pytest.raises(TernEcgError, match=f"report {bad} is not valid JSON .*; delete it"):
        update_json(bad, lambda d: d)
    bad.write_text("[1, 2]")
    with pytest.raises(TernEcgError, match="holds a list, not a JSON object"):
        read_json(bad)
    assert read_json(tmp_path / "missing.json") == {}


def test_markdown_table():
    from ternecg.reports import markdown_table
    assert markdown_table(("a", "b c"), [(1, ""), ("x", 2.5)]) == "| a | b c |\n|---|---|\n| 1 |  |\n| x | 2.5 |"
    assert markdown_table(("a",), []) == "| a |\n|---|"
