"""ternecg: a ternary MSGC + MUX-skip ECG beat classifier, from PyTorch to bit-exact FPGA hardware.

The design is split in four layers, installed as sub-packages of this one:

- :mod:`ternecg.golden`  data, training, the exported model file and the integer reference;
- :mod:`ternecg.hw`      the Amaranth generator that turns a model file into Verilog;
- :mod:`ternecg.sim`     cocotb testbenches that check that Verilog against the integer reference;
- :mod:`ternecg.boards`  FPGA board builds, programming and the host client.
"""

from .errors import TernEcgError

__all__ = ["TernEcgError"]
