"""CRC-16/CCITT-FALSE in gateware: one byte per cycle as 16 XOR trees (docs/protocol.md).

The CRC is linear, so each bit of the register after a byte is the XOR of some bits of the
register before and some bits of the byte; :func:`crc16_step` builds exactly those XORs (no
multiplexer chains). ``protocol.crc16`` is the same function in Python.
"""

from amaranth import Cat

__all__ = ["crc16_step"]


def _step(crc, byte):
    c = crc ^ (byte << 8)
    for _ in range(8):
        c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        c &= 0xFFFF
    return c


def _rows():
    """For each CRC output bit, the (register bits, byte bits) it is the XOR of."""
    return [([i for i in range(16) if (_step(1 << i, 0) >> out) & 1],
             [j for j in range(8) if (_step(0, 1 << j) >> out) & 1]) for out in range(16)]


_ROWS = _rows()


def crc16_step(crc, byte):
    """The CRC-16/CCITT-FALSE register (a 16-bit value) after the byte ``byte`` (8 bits)."""
    bits = []
    for crc_bits, byte_bits in _ROWS:
        terms = [crc[i] for i in crc_bits] + [byte[j] for j in byte_bits]
        v = terms[0]
        for t in terms[1:]:
            v = v ^ t
        bits.append(v)
    return Cat(*bits)
