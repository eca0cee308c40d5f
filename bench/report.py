"""The figures of a run: one rich table on the terminal, the same as JSON and Markdown."""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Piped output (make bench | tee) would otherwise be squeezed to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160, highlight=False)


@dataclass
class Side:
    """One side of a figure: the service or its raw-PostgreSQL baseline."""

    value: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    cpu: dict[str, float] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Figure:
    section: str
    name: str
    unit: str  # of `value`, e.g. "req/s" or "ms"
    service: Side | None  # None: not measured (no wrk)
    baseline: Side | None = None
    higher_is_better: bool = True
    flags: list[str] = field(default_factory=list)  # something went wrong: errors, limits
    notes: list[str] = field(default_factory=list)  # worth knowing, not wrong

    @property
    def speed_vs_raw(self) -> float | None:
        """1.0 = as fast as raw PostgreSQL, 0.25 = a quarter of its speed."""
        ours, raw = self.service, self.baseline
        if ours is None or raw is None or not ours.value or not raw.value:
            return None
        return ours.value / raw.value if self.higher_is_better else raw.value / ours.value


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    digits = 0 if value >= 100 else 1 if value >= 10 else 2
    return f"{value:,.{digits}f}{' ' + unit if unit else ''}"


def _cpu(side: Side | None) -> str:
    if side is None or not side.cpu:
        return ""
    return " ".join(f"{name} {share:.0%}" for name, share in side.cpu.items())


_COLUMNS = (
    "figure",
    "service",
    "p50 ms",
    "p99 ms",
    "raw PostgreSQL",
    "p50 ms",
    "p99 ms",
    "speed vs raw",
    "CPU (service run)",
    "CPU (raw run)",
    "flags and notes",
)


def _side(side: Side | None, unit: str) -> list[str]:
    if side is None:
        return ["-", "", ""]
    return [_num(side.value, unit), _num(side.p50_ms), _num(side.p99_ms)]


def _cells(figure: Figure) -> list[str]:
    ratio = figure.speed_vs_raw
    return [
        figure.name,
        *_side(figure.service, figure.unit),
        *_side(figure.baseline, figure.unit),
        f"{ratio:.2f}" if ratio is not None else "",
        _cpu(figure.service),
        _cpu(figure.baseline),
        "; ".join(figure.flags + figure.notes),
    ]


def sections(figures: list[Figure]) -> dict[str, list[Figure]]:
    """Figures by section: export-results first, then growth, bulk load, the log, storage."""
    rank = {"export-results": 0, "bulk load": 2, "reading the log back": 3, "storage": 4}
    grouped: dict[str, list[Figure]] = {}
    for figure in sorted(figures, key=lambda f: rank.get(f.section, 1)):
        grouped.setdefault(figure.section, []).append(figure)
    return grouped


def table(figures: list[Figure], title: str) -> Table:
    shown = Table(title=title, title_justify="left")
    for n, name in enumerate(_COLUMNS):
        shown.add_column(name, justify="left" if n in (0, 8, 9, 10) else "right")
    for section, rows in sections(figures).items():
        shown.add_section()
        shown.add_row(f"[bold]{escape(section)}[/]")
        for figure in rows:
            cells = [escape(cell) for cell in _cells(figure)]
            if figure.flags:
                cells[-1] = f"[bold red]{cells[-1]}[/]"
            shown.add_row(*cells)
    return shown


def markdown(figures: list[Figure]) -> str:
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    for section, rows in sections(figures).items():
        lines.append(f"| **{section}** |" + " |" * (len(_COLUMNS) - 1))
        lines.extend(
            "| " + " | ".join(c.replace("|", "\\|") for c in _cells(figure)) + " |"
            for figure in rows
        )
    return "\n".join(lines) + "\n"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def machine(postgres: dict[str, str], tools: dict[str, str]) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "ram_gib": round(_ram_gib(), 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": postgres,
        **tools,
    }


def machine_line(facts: dict[str, Any]) -> str:
    pg = facts["postgresql"]
    settings = ", ".join(f"{k}={v}" for k, v in pg.items() if k != "version")
    return (
        f"{facts['cpus']} CPUs ({facts['cpu_model']}), {facts['ram_gib']} GiB RAM;"
        f" Python {facts['python']}; PostgreSQL {pg['version']} ({settings});"
        f" {facts.get('wrk', 'no wrk')}; {facts.get('pgbench', '')}"
    )


def write(
    path: Path, facts: dict[str, Any], settings: dict[str, Any], figures: list[Figure]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"machine": facts, "settings": settings, "figures": [asdict(f) for f in figures]}
    path.write_text(json.dumps(document, indent=2) + "\n")
    path.with_suffix(".md").write_text(f"Machine: {machine_line(facts)}\n\n" + markdown(figures))
