"""Policy, and nothing else: what to do with each merged pair."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bucketvault.mirror.filters import KeyFilter
from bucketvault.mirror.identity import Identity, compare_listed
from bucketvault.mirror.merge import Pair


class Action(StrEnum):
    COPY = "copy"  # absent at the target
    SKIP = "skip"  # the target already holds the same content
    UPDATE = "update"  # differs, and overwriting was asked for
    CONFLICT = "conflict"  # differs; the target's object is kept and reported
    CHECK = "check"  # listings cannot tell: a worker compares recorded checksums
    DELETE = "delete"  # only at the target, and removal was asked for
    KEEP = "keep"  # only at the target; kept
    IGNORE = "ignore"  # filtered out


@dataclass(frozen=True, slots=True)
class Policy:
    overwrite: bool = False
    remove: bool = False
    filter: KeyFilter = field(default_factory=KeyFilter)


def on_difference(policy: Policy) -> Action:
    return Action.UPDATE if policy.overwrite else Action.CONFLICT


def decide(pair: Pair, policy: Policy) -> Action:
    if not policy.filter.key_selected(pair.key):
        return Action.IGNORE
    if pair.source is None:
        return Action.DELETE if policy.remove else Action.KEEP
    if not policy.filter.source_selected(pair.source):
        return Action.IGNORE
    if pair.target is None:
        return Action.COPY
    identity = compare_listed(pair.source, pair.target)
    if identity is Identity.SAME:
        return Action.SKIP
    if identity is Identity.DIFFERENT:
        return on_difference(policy)
    return Action.CHECK
