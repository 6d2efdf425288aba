"""Writing NLU measurements into BENCHMARKS.md: sections between markers, tables, machine."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path


def replace_section(document: str, name: str, body: str) -> str:
    """``document`` with the text between ``<!-- name:start -->`` and ``<!-- name:end -->``
    replaced by ``body``; the marked section is appended when the markers are missing."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    if start in document and end in document:
        head, _, rest = document.partition(start)
        _, _, tail = rest.partition(end)
        return head + block + tail
    return document.rstrip("\n") + "\n\n" + block + "\n"


def write_section(path: Path, name: str, body: str) -> None:
    """Regenerate one marked section of a Markdown file, keeping everything else."""
    document = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(replace_section(document, name, body), encoding="utf-8")


def table(header: Sequence[str], rows: Sequence[Sequence[object]], align: str = "") -> str:
    """A Markdown table; ``align`` is one letter per column, l or r (default: l then r)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def pct(value: float, digits: int = 1) -> str:
    """0.9512 -> '95.1 %'."""
    return f"{100 * value:.{digits}f} %"


def machine() -> str:
    """Cores, CPU model, memory, Python and the load average, for the record."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({cpu}){memory}, Python {platform.python_version()}; "
        f"load average {load} when the run started"
    )


def stamp() -> str:
    """The current time in UTC, to the minute."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
