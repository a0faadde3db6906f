"""Figures over seeds, the issue's bars, and the tables the CLI prints."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from bench.storm.evaluate import SeedResult
from bench.storm.scoring import mean


class Bar(msgspec.Struct, frozen=True):
    name: str
    value: float
    target: str
    passed: bool


def summary(results: Sequence[SeedResult]) -> dict[str, dict[str, float]]:
    """Mean figures per grouping (engine runs and baselines) over the seeds."""
    rows: dict[str, dict[str, float]] = {}
    if not results:
        return rows
    for name in results[0].engine:
        runs = [r.engine[name] for r in results]
        row = mean(run.score for run in runs)
        roots = [run.root_correct for run in runs if run.root_correct is not None]
        if roots:
            row["root_correct"] = round(sum(roots) / len(roots), 4)
        rows[f"engine ({name})"] = row
    for name in results[0].baselines:
        rows[f"group_by {name}"] = mean(r.baselines[name] for r in results)
    return rows


def bars(profile: str, rows: dict[str, dict[str, float]]) -> list[Bar]:
    """Issue 7's bars that apply to this profile's figures."""
    best = max((v["f1"] for k, v in rows.items() if k.startswith("group_by")), default=0.0)
    found: list[Bar] = []
    on = rows.get("engine (topology)")
    off = rows.get("engine (no topology)")
    if profile == "storm" and on is not None:
        found += [
            Bar("F1 with topology", on["f1"], ">= 0.90", on["f1"] >= 0.90),
            Bar(
                "F1 above best baseline",
                round(on["f1"] - best, 4),
                ">= 0.25",
                on["f1"] - best >= 0.25,
            ),
            Bar("precision with topology", on["precision"], ">= 0.95", on["precision"] >= 0.95),
            Bar("noise reduction", on["noise_reduction"], ">= 0.75", on["noise_reduction"] >= 0.75),
        ]
    if profile == "storm" and off is not None:
        found.append(
            Bar(
                "F1 without topology above best baseline",
                round(off["f1"] - best, 4),
                "> 0",
                off["f1"] > best,
            )
        )
    if profile == "duplicates" and on is not None:
        nr = on["noise_reduction"]
        found.append(Bar("noise reduction (duplicates)", nr, ">= 0.95", nr >= 0.95))
    return found


def table(rows: dict[str, dict[str, float]]) -> str:
    columns = ("precision", "recall", "f1", "f1_min", "noise_reduction", "root_correct")
    lines = [
        "| grouping | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for name, row in rows.items():
        cells = [f"{row[c]:.3f}" if c in row else "" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bar_lines(found: Sequence[Bar]) -> str:
    return "\n".join(
        f"- {'PASS' if b.passed else 'FAIL'} {b.name}: {b.value:.3f} (bar {b.target})"
        for b in found
    )
