"""Plain file I/O, for training/ and hub/ alike: atomic writes and JSON."""

import json
import os
import re
import tempfile
from pathlib import Path


def atomic_write(path, data: str | bytes) -> None:
    """Write through a temporary sibling and `os.replace`: readers and interrupted runs never see half a file.

    The file gets the permissions `open` would give it (0666 less the umask), not the temporary file's 0600, so
    others on a shared machine can read results as they can any file the user writes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with tempfile.NamedTemporaryFile(mode, dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        f.write(data)
        os.fchmod(f.fileno(), 0o666 & ~_umask())
    os.replace(f.name, path)


def _umask() -> int:
    """The process's umask: from /proc on Linux, else by setting it and putting it straight back."""
    try:
        return int(re.search(r"^Umask:\s*(\d+)", Path("/proc/self/status").read_text(), re.M).group(1), 8)
    except (OSError, AttributeError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def write_json(path, data) -> None:
    atomic_write(path, json.dumps(data, indent=2, default=str) + "\n")


def read_json(path):
    return json.loads(Path(path).read_text())
