"""The conv engine's boot reader: the model id from the parameter ROM, right after reset."""

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .checks import Checked, check_int

__all__ = ["BootReader"]


class BootReader(Checked, wiring.Component):
    """Reads ``words`` 16-bit words (low word first) from address 0 of a synchronous ROM into
    ``model_id`` after reset, then raises ``booted`` and leaves the ROM to its other user.

    While not ``booted`` the ROM's address must be ``addr`` (with its read enable high): word
    ``k`` is addressed in cycle ``k`` after reset and stored in cycle ``k + 1``; ``booted`` is
    high from cycle ``words + 1`` (:attr:`latency`) on. The engine starts no beat before that.

    Parameters
    ----------
    words : int
        Words of the id (``hw.params.ID_WORDS``).

    Members
    -------
    addr : ``Out(range(words + 1))``
        ROM address while booting.
    data : ``In(16)``
        ROM read data (low 16 bits of the word).
    booted : ``Out(1)``
        The id is complete.
    model_id : ``Out(16 * words)``
        The id (the STATUS frame's ``model_id``, hw/params.py).

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, words):
        check_int("BootReader", "words", words, minimum=1)

    def __init__(self, words):
        self._words = words
        super().__init__({"addr": Out(range(words + 1)), "data": In(16), "booted": Out(1),
                          "model_id": Out(16 * words)})

    @property
    def latency(self):
        """Cycles from reset to ``booted``."""
        return self._words + 1

    def elaborate(self, platform):
        m = Module()
        boot = Signal(range(self._words + 1))
        m.d.comb += self.addr.eq(boot)
        with m.If(~self.booted):
            m.d.sync += boot.eq(boot + 1)
            for k in range(self._words):
                with m.If(boot == k + 1):
                    m.d.sync += self.model_id[16 * k:16 * (k + 1)].eq(self.data)
            with m.If(boot == self._words):
                m.d.sync += self.booted.eq(1)
        return m
