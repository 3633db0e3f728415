"""JSON reports that several processes may update at once (training stages run side by side)."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path


def update_json(path, update):
    """Read ``path`` (``{}`` when missing), apply ``update(dict) -> dict``, write it back; returns the result.

    The whole read-modify-write holds an exclusive lock on ``path.lock``, and the new text replaces
    the file atomically, so concurrent updaters neither lose each other's keys nor see half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.is_file() else {}
        data = update(data)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, path)
    return data
