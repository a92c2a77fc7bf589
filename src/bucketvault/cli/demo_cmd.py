"""`bucketvault demo` (under construction)."""


def demo() -> None:
    """Under construction."""
    raise SystemExit("not yet")
