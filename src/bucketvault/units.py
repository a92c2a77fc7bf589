"""How numbers are written for people, the same in every command and message.

- Sizes and rates in binary units only (`B`, `KiB`, `MiB`, `GiB`, `TiB`, `PiB`): mixing
  `MB` and `MiB` in one screen made two numbers for one size (issue #9).
- Counts with their noun in the right number: `1 object`, `2 objects`.
- Durations as `45s`, `3m05s`, `2h07m`.
"""

from __future__ import annotations

from bucketvault.errors import UsageError

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


def bandwidth_limit(text: str | None, option: str = "--bwlimit") -> int | None:
    """`option`'s rate in bytes per second (None when not given); `UsageError` naming
    the option when it is no rate."""
    if text is None:
        return None
    try:
        return parse_rate(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


_RATE_SUFFIXES = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_rate(text: str) -> int:
    """A bandwidth limit as rclone's `--bwlimit` writes it, in bytes per second: `10M`
    (10 MiB/s), `512K`, `1.5G`, `1048576`; `KiB`/`MiB`, `/s` and case are accepted too.
    `ValueError` (with what is wrong) when it is no positive rate."""
    value = text.strip().upper().removesuffix("/S").removesuffix("IB").removesuffix("B")
    unit = value[-1:] if value[-1:] in _RATE_SUFFIXES else ""
    number = value[: len(value) - len(unit)] if unit else value
    try:
        rate = float(number) * _RATE_SUFFIXES[unit]
    except ValueError:
        raise ValueError(f"{text!r} is not a rate: write e.g. 10M (10 MiB/s) or 512K") from None
    if not rate >= 1024:
        raise ValueError(f"{text!r} is below 1 KiB/s: write e.g. 10M (10 MiB/s) or 512K")
    return int(rate)
