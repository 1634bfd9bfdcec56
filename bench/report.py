"""Runs the benchmarks and writes bench/REPORT.md: each figure beside its reference and target.

Benchmarks are not tests: nothing here fails on a missed target. Three parts, so that `make bench`
can run the preview figures in a network namespace with only loopback and the lab figures on the
lab: `preview` and `lab` each measure and keep their figures in bench/.work/, `write` turns them
into the report. `lab` keeps each of its parts as it finishes; `report.py lab kubeadm` measures
one again.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import backup, day2, deploy, lab, preview_scaling

HERE = Path(__file__).resolve().parent
REPORT = HERE / "REPORT.md"
WORK = HERE / ".work"

PREVIEW_TARGET = 1.5
CHAIN_TARGET = 1.25
UP_TARGET_SECONDS = 6 * 60
NOOP_TARGET_SECONDS = 15
FAILOVER_TARGET_SECONDS = 3
API_FAILOVER_TARGET_SECONDS = 3
LAG_TARGET_SECONDS = 1


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} {platform.release()}, "
        f"load average {load:.1f} when the run started"
    )


def verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def preview_section(figures: dict[str, float]) -> str:
    def row(size: int) -> str:
        plain, skip = figures[f"nodes{size}"], figures[f"nodes{size}-skip"]
        return (
            f"| {size} | {plain:.1f} s | {plain / figures['nodes3']:.2f}x |"
            f" {plain / figures['empty']:.2f}x | {skip:.1f} s |"
            f" {skip / figures['nodes3-skip']:.2f}x |"
        )

    ratio = figures["nodes100"] / figures["nodes3"]
    ratio_skip = figures["nodes100-skip"] / figures["nodes3-skip"]
    return "\n".join(
        [
            "## `pulumi preview` by stack size",
            "",
            f"Median of {preview_scaling.RUNS} runs. Reference: an empty program, same engine,"
            f" {figures['empty']:.1f} s ({figures['empty-skip']:.1f} s with"
            " `PULUMI_SKIP_CHECKPOINTS=true`).",
            f"Target: 100 nodes within {PREVIEW_TARGET}x of 3 nodes:"
            f" {ratio:.2f}x, {verdict(ratio <= PREVIEW_TARGET)};"
            f" with `PULUMI_SKIP_CHECKPOINTS=true` {ratio_skip:.2f}x,"
            f" {verdict(ratio_skip <= PREVIEW_TARGET)}.",
            "",
            "| nodes | preview | vs 3 nodes | vs empty program | skipping checkpoints"
            " | vs 3 nodes |",
            "|---|---|---|---|---|---|",
            *(row(size) for size in preview_scaling.SIZES),
        ]
    )


def up_section(up: dict[str, Any], noop: dict[str, Any]) -> str:
    ratio = up["wall"] / up["chain"]
    chain = " -> ".join(f"{r['name']} {r['seconds']:.1f} s" for r in up["chain_resources"])
    slowest = ", ".join(f"{r['name']} {r['seconds']:.1f} s" for r in up["slowest"])
    changed = ", ".join(noop["changed"]) or "none"
    return "\n".join(
        [
            "## Full `pulumi up` of the lab from nothing",
            "",
            f"The whole platform ({up['resources']} resources) onto the lab nodes from an empty"
            " stack. Reference: the longest dependency chain, the sum of the durations along it"
            " (per resource from its pre to its outputs event; dependencies and providers from"
            " the state).",
            "",
            "| figure | measured | reference | ratio | target | |",
            "|---|---|---|---|---|---|",
            f"| wall time | {up['wall']:.1f} s | chain {up['chain']:.1f} s | {ratio:.2f}x"
            f" | within {CHAIN_TARGET}x | {verdict(ratio <= CHAIN_TARGET)} |",
            f"| wall time | {up['wall']:.1f} s | | | under {UP_TARGET_SECONDS // 60} min"
            f" | {verdict(up['wall'] < UP_TARGET_SECONDS)} |",
            f"| serial sum of all steps | {up['serial']:.1f} s | wall {up['wall']:.1f} s"
            f" | {up['serial'] / up['wall']:.2f}x | | |",
            "",
            f"Longest chain (steps over {deploy.CHAIN_SHOWN_SECONDS} s): {chain}.",
            f"Slowest resources: {slowest}.",
            "",
            "## No-op `pulumi up`",
            "",
            "Right after the full up, nothing changed. Reference: the full up's wall time.",
            "",
            "| figure | measured | reference | ratio | target | |",
            "|---|---|---|---|---|---|",
            f"| wall time | {noop['wall']:.1f} s | {up['wall']:.1f} s"
            f" | {noop['wall'] / up['wall']:.2f}x | under {NOOP_TARGET_SECONDS} s"
            f" | {verdict(noop['wall'] < NOOP_TARGET_SECONDS)} |",
            f"| remote steps run | {noop['remote_steps']} | | | 0"
            f" | {verdict(noop['remote_steps'] == 0)} |",
            "",
            f"Resources not `same`: {changed}.",
        ]
    )


def failover_section(failover: dict[str, Any]) -> str:
    def row(key: str, label: str) -> str:
        figure = failover[key]
        return (
            f"| {label} | {figure['min']:.2f} s | {figure['median']:.2f} s | {figure['max']:.2f} s"
        )

    median = failover["from_check"]["median"]
    return "\n".join(
        [
            "## Gateway VIP failover",
            "",
            f"{failover['trials']} trials, alternating between the two gateway nodes: the"
            " stand-in gateway stops on the holder; measured until the VIP answers ping from the"
            " host while the other node holds it. Reference: the moment keepalived declared the"
            " holder's check failed (its journal), and, for scale, the moment the gateway"
            " stopped (the check runs every second and fails after 2 misses).",
            f"Target: median at most {FAILOVER_TARGET_SECONDS} s from the check failing:"
            f" {median:.2f} s, {verdict(median <= FAILOVER_TARGET_SECONDS)}.",
            "",
            "| measured from | min | median | max |",
            "|---|---|---|---|",
            row("from_check", "check failed") + " |",
            row("from_stop", "gateway stopped") + " |",
        ]
    )


def kubeadm_section(figures: dict[str, Any]) -> str:
    median = figures["median"]
    return "\n".join(
        [
            "## kubeadm: a Ready cluster, and the API VIP's holder powered off",
            "",
            "The whole platform with `kubernetes.mode: kubeadm` on the three lab nodes (all control"
            " planes, the API VIP on keepalived, the lab's air-gapped artifacts) from an empty"
            f" stack: `pulumi up` took {figures['up']:.0f} s; the three nodes were Ready"
            f" {figures['ready']:.0f} s after it started.",
            "",
            f"{len(figures['outages'])} trials (bench/kubeadm.py): the node holding the API VIP"
            " powered off cleanly; the API's /readyz through the VIP probed from the host every"
            " 50 ms; the figure is the longest run of failed calls. Each trial starts from three"
            " Ready nodes and a healthy etcd.",
            f"Target: median at most {API_FAILOVER_TARGET_SECONDS} s: {median:.2f} s,"
            f" {verdict(median <= API_FAILOVER_TARGET_SECONDS)}.",
            "",
            "| min | median | max |",
            "|---|---|---|",
            f"| {figures['min']:.2f} s | {median:.2f} s | {figures['max']:.2f} s |",
            "",
            "No rolling upgrade between two patch versions: the lab builds one Kubernetes version"
            " (a second would add another cold `go build` of the Kubernetes binaries, which CI's"
            " time cannot take yet); the upgrade path is covered by unit tests only.",
        ]
    )


def lag_section(lag: dict[str, Any]) -> str:
    return "\n".join(
        [
            "## Replica lag during 1,000 inserts",
            "",
            f"{lag['rows']} autocommitted INSERTs on the source, one session, over"
            f" {lag['insert_seconds']:.1f} s. Per row: first seen on the replica (a poller,"
            f" {lag['polls']} polls) minus its insert time on the source; the nodes share the"
            " host's clock. Reference: the insert time.",
            f"Target: p99 under {LAG_TARGET_SECONDS} s: {lag['p99'] * 1000:.0f} ms,"
            f" {verdict(lag['p99'] < LAG_TARGET_SECONDS)}.",
            "",
            "| p50 | p99 | max |",
            "|---|---|---|",
            f"| {lag['p50'] * 1000:.0f} ms | {lag['p99'] * 1000:.0f} ms"
            f" | {lag['max'] * 1000:.0f} ms |",
        ]
    )


def backup_section(figures: dict[str, Any]) -> str:
    mib = 2**20
    return "\n".join(
        [
            f"## Database backup and restore ({figures['data_bytes'] / mib:,.0f} MiB)",
            "",
            f"`console` grown to {figures['rows']:,} rows of {backup.ROW_BYTES} bytes of random"
            f" hex ({figures['data_bytes'] / mib:,.0f} MiB of tables and indexes on the replica)."
            " The backup is one run of the replica's `rainbond-ha-db-backup` (dump, gzip, checks,"
            f" binary log copies; {figures['dump_bytes'] / mib:,.0f} MiB written); the restore"
            " loads that dump into a scratch MariaDB on the replica. Reference: a plain"
            " `mariadb-dump | mariadb` of the same databases into the same scratch server.",
            "",
            "| backup | restore | plain dump piped into a server |",
            "|---|---|---|",
            "| " + " | ".join(f"{figures[k]:.0f} s" for k in ("backup", "restore", "plain")) + " |",
        ]
    )


def save(part: str, figures: dict[str, Any]) -> None:
    WORK.mkdir(exist_ok=True)
    (WORK / f"{part}.json").write_text(json.dumps(figures, indent=2))


def load(part: str) -> dict[str, Any]:
    figures: dict[str, Any] = json.loads((WORK / f"{part}.json").read_text())
    return figures


def write() -> None:
    # The platform part's figures stand at the top level; each other part's under its name.
    preview, measured = load("preview"), load("platform")
    measured |= {part: load(part) for part in lab.PARTS if part != "platform"}
    sections = [
        preview_section(preview["figures"]),
        up_section(measured["up"], measured["noop"]),
        failover_section(measured["failover"]),
        lag_section(measured["lag"]),
        backup_section(measured["backup"]),
        day2.section(measured["day2"]),
        kubeadm_section(measured["kubeadm"]),
        (HERE / "FINDINGS.md").read_text().strip(),
    ]
    REPORT.write_text(
        "\n".join(
            [
                "# Benchmarks",
                "",
                f"Written by `make bench` on {preview['date']}; {preview['machine']}.",
                "",
                "\n\n".join(sections),
                "",
            ]
        )
    )
    print(REPORT.read_text())


def main(part: str, *only: str) -> None:
    if part == "preview":
        save(
            "preview",
            {
                "date": str(datetime.date.today()),
                "machine": machine(),
                "figures": preview_scaling.measure(),
            },
        )
    elif part == "lab":
        # `lab NAME...` measures only those parts (bench/lab.py), keeping the others' figures.
        for name in only or list(lab.PARTS):
            save(name, lab.PARTS[name]())
    elif part == "write":
        write()
    else:
        raise SystemExit(f"usage: {sys.argv[0]} preview | lab [{' '.join(lab.PARTS)}] | write")


if __name__ == "__main__":
    main(*(sys.argv[1:] or [""]))
