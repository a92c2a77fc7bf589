"""`bucketvault serve` (under construction)."""


def serve() -> None:
    """Under construction."""
    raise SystemExit("not yet")
