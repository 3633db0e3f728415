"""Debug taps: a valid-qualified monitor port (no back-pressure by design).

A tap reports every value a datapath writes (a feature-bank write, say) without ever slowing it
down, so the verification testbenches can compare every layer with golden. It is not a
``lib.stream`` (a stream's sink may stall its source; a tap's observer may not).
"""

from amaranth.lib import wiring
from amaranth.lib.wiring import Out


class TapSignature(wiring.Signature):
    """Signature of a monitor tap: every cycle with ``valid`` high reports one value.

    Parameters
    ----------
    payload_shape : :class:`~amaranth.hdl.ShapeLike`
        Shape of the reported value.

    Members
    -------
    payload : ``Out(payload_shape)``
        The value (e.g. a feature-bank write ``{layer, addr, data}``).
    valid : ``Out(1)``
        A value is reported in this cycle; there is no ``ready``: the observer cannot stall.
    """

    def __init__(self, payload_shape):
        self._payload_shape = payload_shape
        super().__init__({"valid": Out(1), "payload": Out(payload_shape)})

    @property
    def payload_shape(self):
        return self._payload_shape

    def __eq__(self, other):
        return isinstance(other, TapSignature) and self._payload_shape == other._payload_shape

    def __repr__(self):
        return f"TapSignature({self._payload_shape!r})"
