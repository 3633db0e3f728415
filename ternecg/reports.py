"""Reports: JSON files that several processes may update at once (training stages run side by
side), and the Markdown tables the report commands print."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from .errors import TernEcgError


def read_json(path):
    """The JSON object in ``path`` (``{}`` when missing); a corrupt file is one clear error."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise TernEcgError(f"report {path} is not valid JSON ({exc}); delete it and re-run the "
                           f"command that writes it") from None
    if not isinstance(data, dict):
        raise TernEcgError(f"report {path} holds a {type(data).__name__}, not a JSON object; delete it "
                           f"and re-run the command that writes it")
    return data


def update_json(path, update):
    """Read ``path`` (``{}`` when missing), apply ``update(dict) -> dict``, write it back; returns the result.

    The whole read-modify-write holds an exclusive lock on ``path.lock``, and the new text replaces
    the file atomically, so concurrent updaters neither lose each other's keys nor see half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = update(read_json(path))
        replace_text(path, json.dumps(data, indent=1) + "\n")
    return data


def replace_text(path, text: str):
    """Write ``text`` to ``path`` through a temporary file beside it that then replaces ``path``
    atomically: a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def markdown_table(header, rows) -> str:
    """A Markdown table: the ``header`` cells, the separator line, then one line per row of
    ``rows`` (each cell as ``str``; format numbers before). No final newline."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
