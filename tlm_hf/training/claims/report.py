"""The report: report.md (the rule first, then a summary, then each claim), report.json (every number, every
pre-training with its fine-tuning seeds) and the PNGs. Claims arrive as JSON-ready dicts (`dataclasses.asdict`
of the typed results, with the report's tables and texts)."""

import json
import math
from pathlib import Path

from .analysis import VERDICT_RULE, Estimate


def _table(table: dict) -> str:
    lines = ["| " + " | ".join(table["columns"]) + " |", "|" + " --- |" * len(table["columns"])]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in table["rows"]]
    return "\n".join(lines)


def markdown_table(table: dict) -> str:
    """A table {"title", "columns", "rows"} (as the report's JSON holds it) as markdown, title first."""
    return f"**{table['title']}**\n\n{_table(table)}\n"


def estimate_text(estimate: dict, spec: str = "+.3f") -> str:
    return Estimate(**estimate).text(spec)


def verdict_line(verdict: dict, spec: str = "+.3f") -> str:
    """'- quantity: value [low, high] (n = ..); the paper's side: above 0, margin 0.01 (source) -> verdict'."""
    side = "above" if verdict["direction"] > 0 else "below"
    why = f" ({verdict['why']})" if verdict.get("why") else ""
    if verdict["quantity"].startswith("log latency"):
        e = verdict["estimate"]
        ratio = "-" if math.isnan(e["low"]) else \
            f"{math.exp(e['value']):.2f} [{math.exp(e['low']):.2f}, {math.exp(e['high']):.2f}]"
        shown = f"{estimate_text(e, '+.2f')}, ratio {ratio}"
    else:
        shown = estimate_text(verdict["estimate"], spec)
    return (f"- {verdict['quantity']}: {shown}; the paper's side: {side} {verdict['threshold']:+.3g}, margin "
            f"{verdict['margin']['value']:.3g} -> **{verdict['verdict']}**{why}")


def claim_markdown(claim: dict) -> str:
    """One claim's section: statement, verdicts, the control's split, paper and ours, what differs, the plot."""
    lines = [f"## Claim {claim['claim']}: {claim['title']} — **{claim['verdict']['verdict']}**", "",
             claim["statement"], ""]
    lines += [verdict_line(part) for part in claim["parts"]]
    lines += [f"- margin: {m}" for m in dict.fromkeys(p["margin"]["source"] for p in claim["parts"])]
    for part in claim.get("split", []):
        lines.append(f"- {part['name']}: {estimate_text(part['estimate'])}")
    lines += ["", f"Paper: {claim['paper']}", "", f"Ours: {claim['setting']}", ""]
    for table in claim.get("tables", []):
        lines += [markdown_table(table)]
    if claim.get("failed_runs"):
        lines += ["Failed runs (judged on validation accuracy; left out of their pre-training's gap): "
                  + "; ".join(claim["failed_runs"]), ""]
    if claim.get("edges"):
        lines += ["Choices on the edge of the search (a wider grid or more epochs might do better): "
                  + "; ".join(claim["edges"]), ""]
    if claim.get("plateau"):
        lines += [claim["plateau"], ""]
    lines += [f"- {note}" for note in claim.get("notes", [])] + ([""] if claim.get("notes") else [])
    if claim.get("differs"):
        lines += ["What differs from the paper, and why:", "", *(f"- {item}" for item in claim["differs"]), ""]
    if claim.get("plot"):
        lines += [f"![claim {claim['claim']}]({claim['plot']})", ""]
    return "\n".join(lines)


def report_markdown(report: dict) -> str:
    """report.md: how it was made, the verdict rule (before any number), a summary, then each claim."""
    lines = ["# The paper's claims at laptop scale", "", f"Command: `{report['command']}`", "",
             f"Hardware: {report['hardware']}", "", f"Plan: {report['plan']}", "",
             f"Wall-clock of this invocation: {report['wall_clock_s'] / 60:.1f} min (cached runs count 0).", "",
             "## Verdict rule", "", VERDICT_RULE, "## Summary", "", "| claim | verdict |", "| --- | --- |"]
    lines += [f"| {c['claim']}: {c['title']} | {c['verdict']['verdict']} |" for c in report["claims"]]
    lines.append("")
    lines += [claim_markdown(claim) for claim in report["claims"]]
    return "\n".join(lines)


def write_report(out_dir, report: dict, plots: dict[str, bytes]) -> None:
    """report.md, the PNGs it links and report.json (written last: its presence marks a finished report)."""
    from ..runs import atomic_write

    out_dir = Path(out_dir)
    for name, png in plots.items():
        atomic_write(out_dir / name, png)
    atomic_write(out_dir / "report.md", report_markdown(report))
    atomic_write(out_dir / "report.json", json.dumps(report, indent=2, default=str) + "\n")
