"""A string that never shows itself: not in repr, str, logs, tracebacks or JSON."""

from __future__ import annotations

from typing import Any

MASK = "********"


class Secret:
    """Wraps a secret value. Only `reveal()` gives it back, at the one place that needs it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


SECRET_WORDS = ("secret", "password", "token", "passwd", "credential", "private")


def looks_secret(name: str) -> bool:
    """Whether a parameter or field name names a secret (SECRET_ACCESS_KEY, API_TOKEN, ...)."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)
