"""Results tables: the one writer of results.json / .csv / .md (and .png) for the experiment and the committee."""

import csv
import io
import json
from pathlib import Path

from ..fileio import atomic_write


def csv_text(rows: list[dict], fields) -> str:
    """CSV of `fields` of every row; list values become space-separated."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(fields), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: " ".join(map(str, v)) if isinstance(v, list) else v for k, v in row.items()})
    return out.getvalue()


def markdown_table(rows: list[dict], columns: dict, title: str = "") -> str:
    """A markdown table: `columns` maps each header to a function of the row giving its cell text."""
    lines = [title, ""] if title else []
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("| " + " | ".join("---" for _ in columns) + " |")
    lines += ["| " + " | ".join(str(cell(row)) for cell in columns.values()) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_results(out_dir, rows: list[dict], *, fields, markdown: str, data=None, png: bytes | None = None,
                  name: str = "results") -> None:
    """NAME.json (`data`, default the rows), NAME.csv (`fields` of the rows), NAME.md and, when given, NAME.png in
    out_dir, each written atomically; the JSON file last, as it marks finished results."""
    out_dir = Path(out_dir)
    atomic_write(out_dir / f"{name}.csv", csv_text(rows, fields))
    atomic_write(out_dir / f"{name}.md", markdown)
    if png is not None:
        atomic_write(out_dir / f"{name}.png", png)
    atomic_write(out_dir / f"{name}.json", json.dumps(rows if data is None else data, indent=2, default=str) + "\n")
