"""sim/cache.py and runner.locked: the build cache's size cap (fake builds under a tmp root, no
simulator): least recently used first, down to the cap and no further, never a build that is
being built or used by any process, and one clear message for a bad TERNECG_SIM_CACHE_GB."""

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ternecg.errors import TernEcgError
from ternecg.sim import cache, runner

KB = 1000


@pytest.fixture(autouse=True)
def _own_pins(monkeypatch):
    """Each test pins into its own table and lets its pins go at the end."""
    pins = {}
    monkeypatch.setattr(cache, "_PINS", pins)
    yield
    for f in pins.values():
        f.close()


def fake_build(root, rel, size, used_ago, now):
    """A build directory ``root/rel`` (with ``.lock`` beside it) holding ``size`` bytes in two
    files, one in a subfolder, last used ``used_ago`` seconds before ``now``."""
    d = Path(root) / rel
    (d / "obj_dir").mkdir(parents=True)
    (d / "build.stamp").write_bytes(b"k" * 64)
    (d / "obj_dir" / "Vtop").write_bytes(b"x" * (size - 64))
    Path(str(d) + ".lock").touch()
    use = Path(str(d) + ".use")
    use.touch()
    os.utime(use, (now - used_ago, now - used_ago))
    return d


@pytest.fixture
def four(tmp_path):
    """Builds a (oldest use) .. d (newest), 4 KB each, one of them in a nested folder."""
    now = time.time()
    return [fake_build(tmp_path, rel, 4 * KB, ago, now)
            for rel, ago in (("a-verilator", 400), ("harness/sim/b-4096-verilator", 300),
                             ("c-icarus", 200), ("d-verilator", 100))]


def names(paths):
    return sorted(Path(p).name for p in paths)


def test_sizes_and_discovery(tmp_path, four):
    (tmp_path / "vectors").mkdir()
    (tmp_path / "vectors" / "x.npz").write_bytes(b"v" * 50 * KB)      # not a build: no .lock
    (tmp_path / "verilog").mkdir()
    (tmp_path / "verilog" / "acc.v").write_bytes(b"m" * KB)
    (tmp_path / "verilog" / "acc.lock").touch()                       # a file's lock, no directory
    assert names(cache.builds(tmp_path)) == names(four)
    assert [cache.dir_size(b) for b in four] == [4 * KB] * 4


def test_sweep_removes_least_recently_used_first_and_stops_under_the_cap(tmp_path, four):
    a, b, c, d = four
    s = cache.sweep(tmp_path, 9 * KB)
    assert names(s.removed) == names([a, b])                          # 16 -> 12 -> 8 KB <= 9 KB
    assert (s.before, s.after) == (16 * KB, 8 * KB)
    assert not a.exists() and not b.exists() and c.is_dir() and d.is_dir()
    assert Path(str(a) + ".lock").exists()                            # lock files stay
    assert cache.sweep(tmp_path, 9 * KB).removed == []                 # already under: nothing


def test_use_order_not_age_decides(tmp_path, four):
    a, b, c, d = four
    cache.use(a)                                                      # a used just now
    for f in cache._PINS.values():                                    # (its pin let go: only the mark counts)
        f.close()
    cache._PINS.clear()
    assert names(cache.sweep(tmp_path, 12 * KB).removed) == names([b])


def test_a_build_made_before_the_cap_goes_by_its_folder_time(tmp_path):
    now = time.time()
    old = fake_build(tmp_path, "old", 4 * KB, 0, now)
    Path(str(old) + ".use").unlink()
    os.utime(old, (now - 1000, now - 1000))
    new = fake_build(tmp_path, "new", 4 * KB, 10, now)
    assert names(cache.sweep(tmp_path, 5 * KB).removed) == ["old"]
    assert new.is_dir()


def test_never_removes_a_build_being_built_or_used(tmp_path, four):
    a, b, c, d = four
    with open(str(a) + ".lock", "a+") as building:                    # a build in progress holds .lock
        fcntl.flock(building, fcntl.LOCK_EX)
        cache.use(b)                                                  # this process uses b
        s = cache.sweep(tmp_path, 0)
    assert names(s.removed) == names([c, d]) and names(s.skipped_in_use) == names([a, b])
    assert a.is_dir() and b.is_dir()
    assert s.after == 8 * KB


def test_never_removes_a_build_another_process_uses(tmp_path, four):
    a, b, c, d = four
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys; from ternecg.sim import cache; cache.use(sys.argv[1]); "
                               "print('pinned', flush=True); sys.stdin.read()", str(a)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "pinned"
        s = cache.sweep(tmp_path, 0)
        assert names(s.removed) == names([b, c, d]) and a.is_dir()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert names(cache.sweep(tmp_path, 0).removed) == names([a])      # its process has ended


def test_off_removes_nothing_and_zero_keeps_only_builds_in_use(tmp_path, four, monkeypatch):
    monkeypatch.setenv(cache.ENV, "off")
    assert cache.sweep(tmp_path).removed == [] and all(b.is_dir() for b in four)
    monkeypatch.setenv(cache.ENV, "0")
    assert len(cache.sweep(tmp_path, keep=[four[0]]).removed) == 3 and four[0].is_dir()


@pytest.mark.parametrize("value, expected", [(None, 10 * 10**9), ("", 10 * 10**9), ("2.5", 2_500_000_000),
                                             ("0", 0), ("off", None), (" OFF ", None)])
def test_cap_from_the_environment(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv(cache.ENV, raising=False)
    else:
        monkeypatch.setenv(cache.ENV, value)
    assert cache.cap_bytes() == expected


@pytest.mark.parametrize("value", ["ten", "-1", "nan", "inf", "10GB"])
def test_bad_cap_is_one_clear_error(monkeypatch, value, tmp_path):
    monkeypatch.setenv(cache.ENV, value)
    with pytest.raises(TernEcgError) as err:
        cache.cap_bytes()
    msg = str(err.value)
    assert "\n" not in msg and f"TERNECG_SIM_CACHE_GB={value!r}" in msg
    assert "gigabytes" in msg and "'off'" in msg and "unset" in msg
    monkeypatch.setattr(runner, "BUILD_ROOT", tmp_path)                # and before any build starts
    with pytest.raises(TernEcgError, match="TERNECG_SIM_CACHE_GB"):
        with runner.locked(tmp_path / "x-verilator"):
            pytest.fail("the build ran")


def test_locked_marks_pins_and_sweeps_after_a_new_build_only(tmp_path, four, monkeypatch):
    a, b, c, d = four
    monkeypatch.setattr(runner, "BUILD_ROOT", tmp_path)
    monkeypatch.setenv(cache.ENV, str(13 * KB / 1e9))
    new = tmp_path / "e-verilator"
    with runner.locked(new):                                          # a new build: 20 KB in all
        new.mkdir()
        (new / "model").write_bytes(b"x" * (4 * KB - 3))
        (new / "build.stamp").write_text("key")
    assert names(cache.builds(tmp_path)) == names([c, d, new])        # a and b went, e stays
    assert time.time() - cache.last_use(new) < 60

    monkeypatch.setenv(cache.ENV, "0")
    os.utime(str(new) + ".use", (time.time() - 500,) * 2)
    with runner.locked(new):                                          # a hit (stamp unchanged): no sweep
        pass
    assert names(cache.builds(tmp_path)) == names([c, d, new])
    assert time.time() - cache.last_use(new) < 60                     # but every use marks it
    assert names(cache.sweep(tmp_path).removed) == names([c, d])      # e is pinned by this process
    assert new.is_dir()


def test_locked_outside_the_cache_never_sweeps(tmp_path, four, monkeypatch):
    monkeypatch.setattr(runner, "BUILD_ROOT", tmp_path)
    monkeypatch.setenv(cache.ENV, "0")
    out = tmp_path.parent / f"{tmp_path.name}-elsewhere" / "x-verilator"
    with runner.locked(out):
        out.mkdir()
        (out / "build.stamp").write_text("key")
    assert all(b.is_dir() for b in four)


@pytest.mark.parametrize("command", ["sim-regress", "sim-monitor", "hw-report"])
def test_bad_cap_stops_a_command_before_it_starts(monkeypatch, capsys, command, tmp_path):
    """The simulating commands refuse a bad TERNECG_SIM_CACHE_GB first: one line on stderr, exit
    2, nothing printed before it (no progress bar, no database read: the database folder given
    does not exist), no output folder."""
    from ternecg.cli import main
    monkeypatch.setenv(cache.ENV, "ten")
    out = tmp_path / "out"
    args = [command, "--out", str(out)]
    if command != "hw-report":
        args += ["--db", str(tmp_path / "no-db")]
    assert main(args) == 2
    err = capsys.readouterr()
    assert err.out == ""
    lines = [line for line in err.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "TERNECG_SIM_CACHE_GB='ten'" in lines[0], lines
    assert not out.exists()


def test_verilator_builds_go_through_ccache_when_it_is_installed(monkeypatch):
    """Every Verilator build compiles the same runtime: with ccache on PATH, verilated.mk's
    OBJCACHE is ccache (only the first build of a machine compiles it); TERNECG_CCACHE=0 or no
    ccache leaves it out, and the PCH repair is there either way."""
    import shutil
    real_which = shutil.which
    pch = runner._pch_fix()
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: "/usr/bin/ccache" if name == "ccache"
                        else real_which(name, *a, **k))
    monkeypatch.delenv("TERNECG_CCACHE", raising=False)
    flags = runner.verilator_makeflags().split()
    assert "OBJCACHE=ccache" in flags and all(f in flags for f in pch.split())
    monkeypatch.setenv("TERNECG_CCACHE", "0")
    assert "OBJCACHE=ccache" not in runner.verilator_makeflags().split()
    monkeypatch.delenv("TERNECG_CCACHE")
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "ccache"
                        else real_which(name, *a, **k))
    assert runner.verilator_makeflags() == pch
