"""How numbers are written for people, the same in every command and message.

- Sizes and rates in binary units only (`B`, `KiB`, `MiB`, `GiB`, `TiB`, `PiB`): mixing
  `MB` and `MiB` in one screen made two numbers for one size (issue #9).
- Counts with their noun in the right number: `1 object`, `2 objects`.
- Durations as `45s`, `3m05s`, `2h07m`.
"""

from __future__ import annotations

_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(n: float) -> str:
    """`512 B`, `1.5 KiB`, `12.3 MiB` … (binary units)."""
    if abs(n) < 1024:
        return f"{int(n)} B"
    value = float(n)
    for unit in _UNITS:
        value /= 1024
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`1 object`, `1,234 objects` (`plural` for nouns not made with an `s`)."""
    word = noun if n == 1 else (plural or noun + "s")
    return f"{n:,} {word}"


def human_duration(seconds: float) -> str:
    """`45s`, `3m05s`, `2h07m`."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
