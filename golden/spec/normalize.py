"""Normalisation constants: the contract of docs/arithmetic.md section 1 (torch-free).

    s    = sum(x[0..L-1])                          (L = 240, x unsigned 11-bit)
    mean = (s * MEAN_MUL) >> MEAN_SHIFT            (MEAN_MUL / 2**MEAN_SHIFT ~ 1/L)
    d[t] = x[t] - mean                             (signed)
    m    = max(max(x) - mean, mean - min(x))       (= max |d|)
    k    = smallest k >= 0 with (m >> k) <= 127
    y[t] = d[t] >> k                               (arithmetic shift: floor), in -128..127

``MEAN_MUL`` = 4369 = 0x1111 so the multiply is three shifted additions in hardware. The
reference implementation is :func:`ternecg.golden.normalize.normalize`.
"""

MEAN_MUL = 4369      # round(2**20 / 240) = 4369 = 2**12 + 2**8 + 2**4 + 1
MEAN_SHIFT = 20
OUT_MAX = 127
RAW_BITS = 11


def mean_constants(length):
    """(multiplier, shift) for a window length; 240 is the one the hardware is built for."""
    mul = round((1 << MEAN_SHIFT) / length)
    return mul, MEAN_SHIFT


def max_shift(length=240):
    """Largest shift k the normaliser can need for RAW_BITS-bit samples."""
    k = 0
    while ((1 << RAW_BITS) - 1) >> k > OUT_MAX:
        k += 1
    return k
