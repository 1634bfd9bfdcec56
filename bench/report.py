"""Runs the benchmarks and writes bench/REPORT.md: each figure beside its reference and target.

Benchmarks are not tests: nothing here fails on a missed target. `make bench` runs this inside a
network namespace with only loopback for the preview figures.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import preview_scaling

REPORT = Path(__file__).resolve().parent / "REPORT.md"


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} {platform.release()}, "
        f"load average {load:.1f} when the run started"
    )


def preview_section(figures: dict[str, float]) -> str:
    small = figures["nodes3"]
    rows = [
        f"| {size} | {figures[f'nodes{size}']:.1f} s | {figures[f'nodes{size}'] / small:.2f}x |"
        f" {figures[f'nodes{size}'] / figures['empty']:.2f}x |"
        for size in preview_scaling.SIZES
    ]
    return "\n".join(
        [
            "## `pulumi preview` by stack size",
            "",
            f"Median of {preview_scaling.RUNS} runs. Reference: an empty program, same engine,"
            f" {figures['empty']:.1f} s. Target: 100 nodes within 1.5x of 3 nodes.",
            "",
            "| nodes | preview | vs 3 nodes | vs empty program |",
            "|---|---|---|---|",
            *rows,
        ]
    )


NOT_YET = """## Not measured yet

Targets of the benchmarks that do not exist yet, each to be measured against its reference:

- full `pulumi up` of the lab from nothing: wall time against the longest dependency chain
  (target within 1.25x) and under 6 minutes without the toolchain build;
- no-op `pulumi up`: 0 remote steps, under 15 s;
- gateway VIP failover over 20 trials: median at most 3 s;
- replica lag during 1,000 inserts: p99 under 1 s."""


def main() -> None:
    started = machine()
    sections = [preview_section(preview_scaling.measure()), NOT_YET]
    REPORT.write_text(
        "\n".join(
            [
                "# Benchmarks",
                "",
                f"Written by `make bench` on {datetime.date.today()}; {started}.",
                "",
                "\n\n".join(sections),
                "",
            ]
        )
    )
    print(REPORT.read_text())


if __name__ == "__main__":
    main()
