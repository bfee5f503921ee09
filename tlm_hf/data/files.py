"""Reading datasets from local files or the Hub, with one-line errors.

Corpora and tasks both accept "a Hub id or local files"; this module decides which one a
string is and hands it to `datasets.load_dataset` with the right builder.
"""

import bz2
import codecs
import glob
import gzip
import json
import lzma
import os
from pathlib import Path

from datasets import DatasetDict, load_dataset

from ..errors import MissingFileError, SettingsError
from .samples import resolve_sample

# File suffix -> `datasets` builder. Compressed files (.gz, ...) are read transparently.
_BUILDERS = {".txt": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
_COMPRESSIONS = {".gz", ".bz2", ".xz", ".zst"}
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def file_suffix(path: str | os.PathLike) -> str:
    """The format suffix of `path`, ignoring a compression suffix: `a.jsonl.gz` -> `.jsonl`."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in _COMPRESSIONS:
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def data_name(source: str | os.PathLike) -> str:
    """How to name local data without its folder: `~/me/topics.csv.gz` -> `topics.csv.gz`, `sample:wikitext2` as is
    (a card or run file must not carry the user's absolute paths)."""
    text = os.fspath(source)
    return text if text.startswith("sample:") else Path(text).name


def task_file_name(task_data: str) -> str:
    """A task's name from its file(s): `mytopics.csv` or `train=mytopics.csv,test=...` -> `mytopics`,
    `sample:dbpedia_14` -> `dbpedia_14`."""
    first = task_data.split(",")[0]
    first = first.split("=", 1)[1] if "=" in first else first
    name = data_name(first.strip()).removeprefix("sample:")
    while Path(name).suffix.lower() in {*_BUILDERS, *_COMPRESSIONS}:
        name = Path(name).stem
    return name


def is_local(source: str | os.PathLike) -> bool:
    """True when `source` names local files (or a bundled `sample:<name>`) rather than a Hub dataset id."""
    text = resolve_sample(os.fspath(source))
    return (
        Path(text).expanduser().exists()
        or any(c in text for c in "*?[")
        or file_suffix(text) in _BUILDERS
        or text.startswith(("/", "./", "../", "~"))
    )


def expand_files(pattern: str | os.PathLike) -> list[str]:
    """The sorted files matching a path or glob; FileNotFoundError when there are none."""
    files = sorted(glob.glob(os.path.expanduser(resolve_sample(os.fspath(pattern)))))
    files = [f for f in files if os.path.isfile(f)]
    if not files:
        folder = os.path.expanduser(resolve_sample(os.fspath(pattern)))
        if os.path.isdir(folder):
            raise MissingFileError(f"{os.fspath(pattern)} is a folder; give a file in it, or a glob such as "
                                   f"{os.path.join(os.fspath(pattern), '*.jsonl')}")
        raise MissingFileError(f"no file matches {os.fspath(pattern)!r}; check the path or glob")
    return files


def load_files(data_files, *, streaming: bool = False) -> DatasetDict:
    """Load local files with `datasets`: a path/glob (split "train") or a {split: path} dict."""
    if not isinstance(data_files, dict):
        data_files = {"train": data_files}
    resolved = {split: expand_files(pattern) for split, pattern in data_files.items()}
    suffixes = {file_suffix(f) for files in resolved.values() for f in files}
    unknown = suffixes - set(_BUILDERS)
    if unknown:
        raise SettingsError(
            f"unsupported file type {sorted(unknown)[0]!r}; use one of {', '.join(_BUILDERS)} (optionally .gz)"
        )
    builders = {_BUILDERS[s] for s in suffixes}
    if len(builders) > 1:
        raise SettingsError(f"files mix formats {sorted(suffixes)}; convert them to one format")
    for files in resolved.values():  # pyarrow reads bytes that are not UTF-8 without a word: refuse them first
        for path in files:
            if not _is_utf8(path):
                raise SettingsError(file_problem(path) or f"{path} is not UTF-8 text; convert the file to UTF-8")
    try:
        data = load_dataset(builders.pop(), data_files=resolved, streaming=streaming)
    except Exception as err:  # datasets wraps what went wrong (DatasetGenerationError, ArrowInvalid, StopIteration)
        problem = _first_problem(f for files in resolved.values() for f in files)
        cause = err
        while cause.__cause__ or cause.__context__:
            cause = cause.__cause__ or cause.__context__
        files = ", ".join(f for files in resolved.values() for f in files)
        raise SettingsError(problem or f"cannot read {files} ({_first_line(cause)}); check the file's format") from err
    for split, rows in ({} if streaming else data).items():
        if len(rows) == 0:
            raise SettingsError(_first_problem(resolved[split]) or f"{', '.join(resolved[split])} holds no rows; give a file with data")
    return data


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _is_utf8(path) -> bool:
    """True when a text file (decompressed) is valid UTF-8, or cannot be read (datasets then says why); parquet
    files are binary and not checked. Reads in 1 MiB chunks: a fraction of a second for the mirrored data."""
    if file_suffix(path) == ".parquet":
        return True
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with _OPENERS.get(Path(path).suffix.lower(), open)(path, "rb") as f:
            while chunk := f.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    except (EOFError, OSError, lzma.LZMAError):
        return True  # truncated or corrupt: load_dataset fails and file_problem names it
    return True


def _first_problem(paths) -> str | None:
    return next((problem for path in paths if (problem := file_problem(path))), None)


def file_problem(path) -> str | None:
    """Why a local text file (jsonl, json, csv, txt, optionally compressed) cannot be read, as one line naming the
    file, the line and the fix: empty, truncated or corrupt compression, not UTF-8, a JSON Lines row that does
    not parse. None when none of these is found (parquet files are not inspected)."""
    fmt, compression = file_suffix(path), Path(path).suffix.lower()
    if fmt == ".parquet":
        return None
    problem, rows, header = None, 0, None
    try:
        with _OPENERS.get(compression, open)(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    problem = problem or (
                        f"{path}, line {number}, is not UTF-8 (byte {raw[err.start]:#04x}); convert the file to UTF-8, "
                        "e.g. iconv -f latin1 -t utf-8"
                    )
                    continue
                if not line.strip():
                    continue
                if fmt == ".csv" and header is None:
                    header = line  # a CSV's first line names its columns; with nothing below it, it holds no rows
                    continue
                rows += 1
                if fmt == ".jsonl" and problem is None:
                    try:
                        json.loads(line)
                    except json.JSONDecodeError as err:
                        problem = f"{path}, line {number}, is not valid JSON ({err.msg}); fix or remove that line"
    except (EOFError, OSError, lzma.LZMAError) as err:  # gzip.BadGzipFile is an OSError
        return f"{path} is truncated or not valid {compression.lstrip('.')} ({_first_line(err)}); copy or download it again"
    if problem is None and rows == 0:
        if header is not None:
            return f"{path} has a header line ({header.strip()[:60]}) but no rows below it; give a file with data"
        return f"{path} is empty (no rows); give a file with data"
    return problem


def load_hub(path: str, config: str | None = None, **kwargs):
    """`load_dataset` for a Hub id, with a one-line error when it cannot be reached or found."""
    try:
        return load_dataset(path, config, **kwargs)
    except (FileNotFoundError, ConnectionError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise MissingFileError(
            f"cannot load {path!r} from the Hub ({first_line}); check the id and your connection, "
            "or pass local files instead"
        ) from err
