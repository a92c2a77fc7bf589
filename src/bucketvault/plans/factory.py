"""Where the CLI and the server get a service's `PlanManager` from.

The plans a service offers and the work of their steps are defined in
`bucketvault.plans.definitions.manager_for(service_name) -> PlanManager`. Tests (and
embedders) can install another factory with `set_manager_factory`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from bucketvault.errors import BucketvaultError
from bucketvault.plans.engine import PlanManager

ManagerFactory = Callable[[str], PlanManager]

_override: ManagerFactory | None = None


def set_manager_factory(factory: ManagerFactory | None) -> None:
    """Use `factory` instead of `plans.definitions.manager_for` (None restores it)."""
    global _override
    _override = factory


def manager_for(service: str) -> PlanManager:
    if _override is not None:
        return _override(service)
    try:
        module = importlib.import_module("bucketvault.plans.definitions")
    except ModuleNotFoundError as exc:
        if exc.name != "bucketvault.plans.definitions":
            raise
        raise BucketvaultError("plan definitions are not installed in this build") from exc
    factory = cast(ManagerFactory, module.manager_for)
    return factory(service)
