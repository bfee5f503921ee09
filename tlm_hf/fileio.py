"""Plain file I/O, for training/ and hub/ alike: atomic writes and JSON."""

import json
import os
import re
import tempfile
from pathlib import Path

from .errors import MissingFileError, SettingsError


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


def read_json(path, *, fix: str = "restore it or rerun what wrote it"):
    """The JSON of a file; a missing file, or one that is not UTF-8 JSON (cut short, overwritten), is one line naming
    the file (and the line and column where it stops parsing) and `fix`, not json's message naming no file."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MissingFileError(f"{path} does not exist; {fix}") from None
    except json.JSONDecodeError as err:
        raise SettingsError(f"{path} is corrupt (not valid JSON: {err.msg} at line {err.lineno}, column "
                            f"{err.colno}); {fix}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{path} is corrupt (not UTF-8 text); {fix}") from None


def append_json_line(path, row: dict) -> None:
    """One measured row more in a JSON Lines file, flushed at once: a benchmark stopped at its time budget keeps
    every row it measured before."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def read_json_lines(path) -> list[dict]:
    """The rows `append_json_line` wrote (none when the file is missing); a last line cut off by a stopped writer is
    left out, any other damage is refused naming the file and line."""
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            if number == len(lines):
                break
            raise SettingsError(f"{path}, line {number}: not JSON ({err.msg}); rerun what wrote it") from None
    return rows

