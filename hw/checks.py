"""Constructor argument checks of the hardware components, in the manner of Amaranth's library.

A component rejects a bad argument with :class:`TypeError` (wrong type) or :class:`ValueError`
(right type, value out of range), with a message naming the component, the argument and the
value. The checks run *before* the component object exists: a component class that derives from
:class:`Checked` defines ``check_arguments`` with the signature of its ``__init__``, and
``Checked.__new__`` calls it first, so a rejected component never becomes a half-built
``Elaboratable`` that warns "created but never used" when it is collected.

A command that builds components from user values (a model file, a command-line option) turns
these exceptions into one line with :func:`ternecg.errors.user_values`.
"""

from __future__ import annotations

import operator

__all__ = ["Checked", "check_int", "check_bool"]


class Checked:
    """Mixin (before ``wiring.Component`` in the bases): ``cls.check_arguments(*args, **kwargs)``
    runs before the object is created."""

    def __new__(cls, *args, src_loc_at=0, **kwargs):
        cls.check_arguments(*args, **kwargs)
        return super().__new__(cls, *args, src_loc_at=1 + src_loc_at, **kwargs)

    @classmethod
    def check_arguments(cls, *args, **kwargs):
        """Raise TypeError / ValueError for bad constructor arguments (default: accept all)."""


def check_int(owner, name, value, *, minimum=None, maximum=None):
    """``value`` as an ``int`` (numpy integers accepted, ``bool`` rejected) within
    ``minimum .. maximum``; TypeError or ValueError naming ``owner`` and ``name`` otherwise."""
    if isinstance(value, bool):
        raise TypeError(f"{owner} {name} must be an integer, not {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{owner} {name} must be an integer, not {value!r}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if maximum is None:
            bound = f">= {minimum}"
        elif minimum is None:
            bound = f"<= {maximum}"
        else:
            bound = f"in {minimum}..{maximum}"
        raise ValueError(f"{owner} {name} must be an integer {bound}, not {value!r}")
    return value


def check_bool(owner, name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{owner} {name} must be a bool, not {value!r}")
    return value
