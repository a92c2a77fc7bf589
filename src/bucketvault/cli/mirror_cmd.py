"""`bucketvault mirror` (under construction)."""


def mirror() -> None:
    """Under construction."""
    raise SystemExit("not yet")
