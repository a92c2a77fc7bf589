"""Which store an error came from, and where that store's credentials come from.

The store layer names the endpoint URL in its errors but cannot know what the store is
to the user: the live store of a service (credentials saved by `service add`), the
backup store (the plan's ACCESS_KEY_ID / SECRET_ACCESS_KEY parameters), or an alias of
`mirror`. A `StoreRole` says that, and `StoreRole.explain` rewrites a store error into
one line that names the store and the place to fix its credentials, keeping the
error's class (and so its exit code).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from bucketvault.errors import AccessDeniedError, StoreError

# codes that say the key or secret itself is wrong, as opposed to lacking a permission
# (the same set as store/s3_errors.CREDENTIAL_CODES; not imported, to keep the S3
# client libraries out of commands that never talk to a store)
_WRONG_CREDENTIALS = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"})
_DENIED_FOR = re.compile(r"^access denied by \S+ for (.+?): check ")


@dataclass(frozen=True, slots=True)
class StoreRole:
    """One store as the user knows it: `what` ("the live store of service 'minio'"),
    its URL, and where its credentials come from (a sentence that says how to fix them)."""

    what: str
    url: str
    credentials: str

    def explain(self, exc: StoreError) -> StoreError:
        """`exc` itself, its message now naming this store (once). The exception is
        changed in place, not copied: its class, code, status and any other attribute
        (what the retry and exit-code logic read) stay as they were."""
        if getattr(exc, "store_role", None) is not None:
            return exc
        denied = isinstance(exc, AccessDeniedError)
        exc.args = (self._denied(exc) if denied else f"{self.what}: {exc}",)
        exc.store_role = self  # type: ignore[attr-defined]
        return exc

    def _denied(self, exc: StoreError) -> str:
        code = exc.code or (str(exc.status) if exc.status else "")
        # the store's own hint names the plan parameters whatever the store: drop it
        found = _DENIED_FOR.match(str(exc))
        target = f" for {found.group(1)}" if found else ""
        if code in _WRONG_CREDENTIALS:
            cause = "the access key or secret key is wrong"
        else:
            cause = "the credentials are wrong or lack permission"
        answer = f" ({code})" if code else ""
        where = self.what if self.url in self.what else f"{self.what} at {self.url}"
        return f"{where}: access denied{target}{answer}: {cause}; {self.credentials}"


def live_role(service_name: str, url: str) -> StoreRole:
    return StoreRole(
        f"the live store of service {service_name!r}",
        url,
        f"its credentials are those given to `bucketvault service add {service_name}` "
        "(--access-key; the secret from --secret-file, --secret-stdin or "
        "$BUCKETVAULT_SECRET_ACCESS_KEY; --replace changes them)",
    )


def backup_role(service_name: str, url: str) -> StoreRole:
    return StoreRole(
        f"the backup store of service {service_name!r}",
        url,
        "its credentials are the plan's ACCESS_KEY_ID and SECRET_ACCESS_KEY (-p NAME=VALUE, "
        "--secret-file, --secret-stdin, or $BUCKETVAULT_BACKUP_ACCESS_KEY_ID and "
        "$BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY)",
    )


def alias_role(name: str, url: str) -> StoreRole:
    variable = f"$BUCKETVAULT_ALIAS_{name.upper()}"
    return StoreRole(
        f"alias {name!r}",
        url,
        f"its credentials come from `bucketvault alias set {name} …` (or {variable} when "
        "it is set): set the alias again to change them",
    )


def environment_role(url: str) -> StoreRole:
    return StoreRole(
        f"endpoint {url}",
        url,
        "its credentials come from $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY "
        "(or use an alias: `bucketvault alias set`)",
    )


@contextmanager
def as_store(role: StoreRole) -> Iterator[None]:
    """Store errors raised inside are explained as coming from `role`."""
    try:
        yield
    except StoreError as exc:
        role.explain(exc)
        raise


@contextmanager
def as_stores(roles: Sequence[StoreRole]) -> Iterator[None]:
    """Store errors raised inside are explained by the role whose URL they name; when
    several roles share that URL, the error names each of them."""
    try:
        yield
    except StoreError as exc:
        explain_by_url(exc, roles)
        raise


def _names(text: str, url: str) -> bool:
    """Whether `text` names `url` itself (not `http://h:90` inside `http://h:9000`)."""
    bare = re.escape(url.rstrip("/"))
    return re.search(bare + r"(?![\w.-]|:\d)", text) is not None


def explain_by_url(exc: StoreError, roles: Sequence[StoreRole]) -> StoreError:
    text = str(exc)
    matching = [role for role in roles if role.url and _names(text, role.url)]
    distinct = list(dict.fromkeys(matching))
    if not distinct:
        return exc
    if len(distinct) == 1:
        return distinct[0].explain(exc)
    merged = StoreRole(
        " or ".join(role.what for role in distinct),
        distinct[0].url,
        "; ".join(f"for {role.what}, {role.credentials}" for role in distinct),
    )
    return merged.explain(exc)
