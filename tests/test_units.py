"""How numbers are written: binary units only, '1 object', short durations."""

from __future__ import annotations

import pytest

from bucketvault.cli.plan_render import progress_text
from bucketvault.cli.progress import summary_lines
from bucketvault.mirror.stats import MirrorStats
from bucketvault.units import count, human_bytes, human_duration


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (5 * 2**30, "5.0 GiB")],
)
def test_human_bytes(n: int, text: str) -> None:
    assert human_bytes(n) == text


def test_count_and_duration() -> None:
    assert [count(n, "object") for n in (0, 1, 2, 1234)] == [
        "0 objects",
        "1 object",
        "2 objects",
        "1,234 objects",
    ]
    assert [human_duration(s) for s in (0.4, 45, 185, 7620)] == ["0s", "45s", "3m05s", "2h07m"]


def test_progress_text_has_eta_and_singular() -> None:
    text = progress_text(
        {
            "objects_done": 1,
            "objects_total": 1,
            "bytes_done": 2**20,
            "bytes_total": 3 * 2**20,
            "rate_bytes_per_s": 2**20,
            "eta_s": 2.0,
        }
    )
    assert text == "1/1 object, 1.0 MiB/3.0 MiB, 1.0 MiB/s, ETA 2s"


def test_mirror_summary_speaks_of_one_object() -> None:
    stats = MirrorStats(source="s/a", target="s/b")
    stats.copy_done(3000)
    stats.conflict("k")
    stats.finish()
    lines = summary_lines(stats.snapshot())
    assert lines[1].startswith("  copied 1 object (2.9 KiB), unchanged 0")
    assert (
        lines[2]
        == "  1 object differs at the target and was kept (pass --overwrite to replace them):"
    )
