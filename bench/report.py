"""Turn benchmark runs into ratios, target verdicts and tables (terminal and Markdown).

A ratio is peer seconds / bucketvault seconds for the same job, so above 1 means
bucketvault is faster; for a fixed data set that is also the ratio of objects/s and MB/s.
Only runs that finished and left a verified destination count. With --repeat, each tool's
median run is used (by wall time; the lower middle one for an even count), never its best:
a lead must hold on a typical run, not on a lucky one.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

BV = "bucketvault"
RSS_LIMIT = 250e6
RSS_SPREAD = 1.20

Run = dict[str, Any]


def best_runs(runs: list[Run]) -> dict[tuple[str, str, str], Run]:
    """The median verified run per (workload, tool, phase); a failed run only if none is
    ok. A tool with any failed run among ok ones is judged on its ok runs only, and the
    failures are in the table's "every run" column."""
    grouped: dict[tuple[str, str, str], list[Run]] = {}
    for run in runs:
        grouped.setdefault((run["workload"], run["tool"], run["phase"]), []).append(run)
    chosen: dict[tuple[str, str, str], Run] = {}
    for key, group in grouped.items():
        ok = sorted((r for r in group if r["status"] == "ok"), key=lambda r: r["wall_s"])
        chosen[key] = ok[(len(ok) - 1) // 2] if ok else group[0]
    return chosen


def _fastest(
    best: dict[tuple[str, str, str], Run],
    workload: str,
    phase: str,
    family: str | None,
    *,
    in_spec: bool,
) -> Run | None:
    """The fastest peer (by its median run); `family` limits it to one tool (e.g. rclone),
    and `in_spec` to the peer configurations the issue's targets name."""
    runs = [
        r
        for (w, t, p), r in best.items()
        if w == workload
        and p == phase
        and t != BV
        and r["status"] == "ok"
        and (family is None or r["family"] == family)
        and (r.get("in_spec", True) or not in_spec)
    ]
    return min(runs, key=lambda r: r["wall_s"]) if runs else None


# (workload, phase, target text, peer family or None for every peer, ratio needed, strict)
TARGETS = [
    ("W1", "copy", ">= 1.5x rclone objects/s", "rclone", 1.5, False),
    ("W1", "noop", "no-op re-run >= 2x faster than rclone", "rclone", 2.0, False),
    ("W2", "copy", ">= best peer MB/s", None, 1.0, False),
    ("W2", "noop", "no-op re-run >= 2x faster than rclone", "rclone", 2.0, False),
    ("W3", "copy", "faster than every peer", None, 1.0, True),
    ("W3", "noop", "no-op re-run >= 2x faster than rclone", "rclone", 2.0, False),
]


def _verdict(row: dict[str, Any], bv: Run | None, peer: Run | None) -> dict[str, Any]:
    if bv is None or bv["status"] != "ok":
        row.update(passed=None, detail="bucketvault did not complete: no ratio")
    elif peer is None:
        row.update(passed=None, detail="no peer completed")
    else:
        ratio = peer["wall_s"] / bv["wall_s"]
        passed = ratio > row["need"] if row["strict"] else ratio >= row["need"]
        row.update(
            passed=passed, ratio=ratio, peer=peer["tool"], detail=f"{ratio:.2f}x vs {peer['tool']}"
        )
    return row


def evaluate(workloads: list[dict[str, Any]], runs: list[Run]) -> list[dict[str, Any]]:
    """Target verdicts against the issue's peers, plus a "stretch" verdict wherever an extra
    peer variant (rclone --checksum) is faster than those."""
    best = best_runs(runs)
    names = {w["name"] for w in workloads}
    out: list[dict[str, Any]] = []
    targets = TARGETS + [
        (name, "noop", "no-op >= 2x faster than rclone", "rclone", 2.0, False)
        for name in sorted(names)
        if name.startswith("NOOP")
    ]
    for workload, phase, target, family, need, strict in targets:
        if workload not in names:
            continue
        bv = best.get((workload, BV, phase))
        peer = _fastest(best, workload, phase, family, in_spec=True)
        row = {"workload": workload, "target": target, "need": need, "strict": strict}
        out.append(_verdict(row, bv, peer))
        extra = _fastest(best, workload, phase, family, in_spec=False)
        if extra is not None and (peer is None or extra["tool"] != peer["tool"]):
            stretch = {**row, "target": f"stretch: {target}, any variant"}
            out.append(_verdict(stretch, bv, extra))
    rss = [r for (w, t, p), r in best.items() if w.startswith("RSS") and t == BV]
    if rss:
        row = {"workload": "RSS", "target": "peak RSS < 250 MB, within 20%"}
        ok = [r for r in rss if r["status"] == "ok"]
        if len(ok) < len(rss):
            row.update(passed=None, detail="bucketvault did not complete every count")
        else:
            peaks = {r["workload"]: r["peak_rss_bytes"] for r in ok}
            spread = max(peaks.values()) / min(peaks.values())
            shown = ", ".join(f"{w}: {v / 1e6:.0f} MB" for w, v in peaks.items())
            row.update(
                passed=max(peaks.values()) < RSS_LIMIT and spread <= RSS_SPREAD,
                spread=spread,
                detail=f"{shown}; max/min {spread:.2f}",
            )
        out.append(row)
    return out


# tables --------------------------------------------------------------------------------

HEAD = [
    "workload",
    "tool",
    "run",
    "seconds",
    "every run s",
    "objects/s",
    "MB/s",
    "peak RSS MB",
    "client CPU s",
    "server CPU s",
    "bucketvault ratio",
    "status",
]


def _rows(doc: dict[str, Any]) -> list[list[str]]:
    best = best_runs(doc["runs"])
    every: dict[tuple[str, str, str], list[str]] = {}
    for r in doc["runs"]:
        shown = f"{r['wall_s']:.2f}" if r["status"] == "ok" else "failed"
        every.setdefault((r["workload"], r["tool"], r["phase"]), []).append(shown)
    rows: list[list[str]] = []
    order = [(wl["name"], phase) for wl in doc["workloads"] for phase in ("copy", "noop")]
    for want in order:
        for (w, tool, phase), run in best.items():
            if (w, phase) != want:
                continue
            bv = best.get((w, BV, phase))
            ratio = "—"
            if tool != BV and run["status"] == "ok" and bv and bv["status"] == "ok":
                ratio = f"{run['wall_s'] / bv['wall_s']:.2f}x"
            secs = run["wall_s"]
            ok = run["status"] == "ok"
            rows.append(
                [
                    w,
                    tool,
                    "no-op re-run" if phase == "noop" else "mirror",
                    f"{secs:.2f}",
                    " / ".join(every[(w, tool, phase)]),
                    f"{run['objects'] / secs:,.0f}" if ok else "—",
                    f"{run['bytes'] / 1e6 / secs:,.1f}" if ok and phase == "copy" else "—",
                    f"{run['peak_rss_bytes'] / 1e6:.0f}",
                    f"{run['client_cpu_s']:.1f}",
                    f"{run['server_cpu_s']:.1f}",
                    ratio,
                    run["status"],
                ]
            )
    return rows


def _target_rows(doc: dict[str, Any]) -> list[list[str]]:
    verdict = {True: "PASS", False: "MISS", None: "n/a"}
    return [[t["workload"], t["target"], t["detail"], verdict[t["passed"]]] for t in doc["targets"]]


def print_tables(doc: dict[str, Any]) -> None:
    console = Console(width=200)
    table = Table(title=Text(f"bucketvault mirror vs peers: {doc['command']}"))
    for h in HEAD:
        table.add_column(
            h, justify="right" if h not in {"workload", "tool", "run", "status"} else "left"
        )
    for row in _rows(doc):
        table.add_row(*map(Text, row))
    console.print(table, markup=False)
    targets = Table(title="targets (ratio = peer seconds / bucketvault seconds)")
    for h in ["workload", "target", "measured", "verdict"]:
        targets.add_column(h)
    for row in _target_rows(doc):
        targets.add_row(*map(Text, row))
    console.print(targets)


def markdown(doc: dict[str, Any]) -> str:
    def table(head: list[str], rows: list[list[str]]) -> str:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)

    return (
        table(HEAD, _rows(doc))
        + "\n\n"
        + table(["workload", "target", "measured", "verdict"], _target_rows(doc))
        + "\n"
    )
