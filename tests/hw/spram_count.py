"""Which RAMs a design puts in iCE40 SPRAM: the ``SB_SPRAM256KA`` instances of its elaboration."""

import types

from amaranth.hdl import Fragment, Instance

#: enough of an iCE40 UP5K platform for :func:`ternecg.hw.qrs_ram.is_ice40_up`
UP5K = types.SimpleNamespace(device="iCE40UP5K")


def sprams(component, platform=UP5K):
    """Paths (submodule names joined by dots) of the ``SB_SPRAM256KA`` instances of ``component``
    elaborated for ``platform``."""
    out = []

    def walk(fragment, path):
        if isinstance(fragment, Instance):
            if fragment.type == "SB_SPRAM256KA":
                out.append(".".join(path))
            return
        for sub, name, *_ in fragment.subfragments:
            walk(sub, path + [str(name)])
    walk(Fragment.get(component, platform), [])
    return sorted(out)
