"""Reading datasets from local files or the Hub, with one-line errors.

Corpora and tasks both accept "a Hub id or local files"; this module decides which one a
string is and hands it to `datasets.load_dataset` with the right builder.
"""

import glob
import os
from pathlib import Path

from datasets import DatasetDict, load_dataset

# File suffix -> `datasets` builder. Compressed files (.gz, ...) are read transparently.
_BUILDERS = {".txt": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
_COMPRESSIONS = {".gz", ".bz2", ".xz", ".zst"}


def file_suffix(path: str | os.PathLike) -> str:
    """The format suffix of `path`, ignoring a compression suffix: `a.jsonl.gz` -> `.jsonl`."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in _COMPRESSIONS:
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def is_local(source: str | os.PathLike) -> bool:
    """True when `source` names local files rather than a Hub dataset id."""
    text = os.fspath(source)
    return (
        Path(text).expanduser().exists()
        or any(c in text for c in "*?[")
        or file_suffix(text) in _BUILDERS
        or text.startswith(("/", "./", "../", "~"))
    )


def expand_files(pattern: str | os.PathLike) -> list[str]:
    """The sorted files matching a path or glob; FileNotFoundError when there are none."""
    files = sorted(glob.glob(os.path.expanduser(os.fspath(pattern))))
    files = [f for f in files if os.path.isfile(f)]
    if not files:
        raise FileNotFoundError(f"no file matches {os.fspath(pattern)!r}; check the path or glob")
    return files


def load_files(data_files, *, streaming: bool = False) -> DatasetDict:
    """Load local files with `datasets`: a path/glob (split "train") or a {split: path} dict."""
    if not isinstance(data_files, dict):
        data_files = {"train": data_files}
    resolved = {split: expand_files(pattern) for split, pattern in data_files.items()}
    suffixes = {file_suffix(f) for files in resolved.values() for f in files}
    unknown = suffixes - set(_BUILDERS)
    if unknown:
        raise ValueError(
            f"unsupported file type {sorted(unknown)[0]!r}; use one of {', '.join(_BUILDERS)} (optionally .gz)"
        )
    builders = {_BUILDERS[s] for s in suffixes}
    if len(builders) > 1:
        raise ValueError(f"files mix formats {sorted(suffixes)}; convert them to one format")
    return load_dataset(builders.pop(), data_files=resolved, streaming=streaming)


def load_hub(path: str, config: str | None = None, **kwargs):
    """`load_dataset` for a Hub id, with a one-line error when it cannot be reached or found."""
    try:
        return load_dataset(path, config, **kwargs)
    except (FileNotFoundError, ConnectionError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FileNotFoundError(
            f"cannot load {path!r} from the Hub ({first_line}); check the id and your connection, "
            "or pass local files instead"
        ) from err
