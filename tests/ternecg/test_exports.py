"""Every module's ``__all__`` names only what the module defines, so ``from module import *``
works for a user of the package (hw/qrs_isa.py listed a ``short_operand`` it never had)."""

import importlib
import pkgutil

import pytest


def _modules():
    out = []
    for pkg in ("ternecg.hw", "ternecg.golden", "ternecg.boards"):
        path = importlib.import_module(pkg).__path__
        out += [pkg] + [name for _, name, _ in pkgutil.walk_packages(path, pkg + ".")]
    return sorted(out)


MODULES = _modules()


def test_the_packages_have_modules():
    assert len(MODULES) > 100 and "ternecg.hw.qrs_isa" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name):
    try:
        module = importlib.import_module(name)
    except ImportError as e:             # an optional dependency (cocotb, torch) missing here
        pytest.skip(f"{name}: {e}")
    missing = [n for n in getattr(module, "__all__", ()) if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"
