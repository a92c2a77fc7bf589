"""bucketvault's one exception tree, and how each kind of failure is treated.

    BucketvaultError                 anything bucketvault raises on purpose
    ├── UsageError                   the user asked for something malformed (exit 2)
    │   ├── ConfigError              a config/alias/service file or value is wrong
    │   └── PlanInputError           bad plan name, phase, step or parameter
    ├── NotFoundError                a missing endpoint, bucket, service or plan (exit 3)
    ├── ConflictError                a plan or bucket already in use (exit 4)
    ├── StoreError                   an object store refused or failed a request
    │   ├── TransientStoreError      worth retrying: resets, timeouts, 5xx, SlowDown
    │   │   └── WriteOutcomeUnknown  a write may or may not have landed: write it again
    │   ├── PermanentStoreError      retrying cannot help: 403, 404, bad request (exit 5)
    │   │   ├── AccessDeniedError    credentials are wrong or lack permission
    │   │   ├── NoSuchBucketError    the bucket is missing
    │   │   ├── NoSuchKeyError       the object (or the object version) is missing
    │   │   ├── ObjectLockedError    Object Lock retains that object version: it stays
    │   │   └── UnsupportedError     the store cannot do this at all (versions, Object
    │   │                            Lock on rclone serve s3 or file://; 501 NotImplemented)
    │   └── UnrepresentableKeyError  a key the target cannot hold (e.g. `..` on file://)
    ├── IntegrityError               bytes read or written do not match their checksum (exit 6)
    └── PartialFailure               a run finished but some objects failed (exit 7)

Third-party exceptions are translated into this tree at one boundary per library
(`store/s3_errors.py`, `store/local.py`); everything above the store layer sees only these.
`classify` is the single place that says whether an error is worth a retry.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in README.md."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    NOT_FOUND = 3
    CONFLICT = 4
    STORE = 5
    INTEGRITY = 6
    PARTIAL = 7
    INTERRUPTED = 130


class ErrorClass(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    FATAL = "fatal"


class BucketvaultError(Exception):
    """Base of every error bucketvault raises deliberately; `str()` is one user-facing line."""

    exit_code: ExitCode = ExitCode.FAILURE


class UsageError(BucketvaultError):
    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    pass


class PlanInputError(UsageError):
    pass


class NotFoundError(BucketvaultError):
    exit_code = ExitCode.NOT_FOUND


class ConflictError(BucketvaultError):
    exit_code = ExitCode.CONFLICT


class StoreError(BucketvaultError):
    exit_code = ExitCode.STORE

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


class TransientStoreError(StoreError):
    pass


class WriteOutcomeUnknown(TransientStoreError):
    """The store could not tell whether a write landed (its answer was lost and the
    object cannot be recognised): the caller must write the whole object again."""


class PermanentStoreError(StoreError):
    pass


class AccessDeniedError(PermanentStoreError):
    pass


class NoSuchBucketError(PermanentStoreError):
    exit_code = ExitCode.NOT_FOUND


class NoSuchKeyError(PermanentStoreError):
    exit_code = ExitCode.NOT_FOUND


class ObjectLockedError(PermanentStoreError):
    """The store keeps an object version under Object Lock (retention or legal hold):
    it cannot be deleted before its retention ends. Not a failure to retry: the caller
    reports the version as retained."""


class UnsupportedError(PermanentStoreError):
    """The store cannot do what was asked at all (no versioning, no Object Lock, an
    S3 call the server does not implement): a different store or option is needed."""


class UnrepresentableKeyError(StoreError):
    pass


class IntegrityError(BucketvaultError):
    exit_code = ExitCode.INTEGRITY


class PartialFailure(BucketvaultError):
    exit_code = ExitCode.PARTIAL


def classify(exc: BaseException) -> ErrorClass:
    """Whether `exc` is worth retrying (transient), worth recording and moving on from
    (permanent, per object), or should stop the whole run (fatal)."""
    if isinstance(exc, TransientStoreError):
        return ErrorClass.TRANSIENT
    if isinstance(exc, (PermanentStoreError, UnrepresentableKeyError, IntegrityError)):
        return ErrorClass.PERMANENT
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return ErrorClass.TRANSIENT
    return ErrorClass.FATAL


# the code of a `TransientStoreError` for a store that could not be reached at all
# (refused, timed out connecting): retried only a few times (`store.retry`)
UNREACHABLE = "Unreachable"


def exit_code_for(exc: BaseException) -> ExitCode:
    if isinstance(exc, BucketvaultError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return ExitCode.FAILURE


def content_mismatch(what: str) -> IntegrityError:
    """A body that does not hash to the MD5 its source names: nothing was stored."""
    return IntegrityError(
        f"{what}: content does not match its checksum (corrupt at the source, or damaged "
        "on the way); nothing was stored"
    )
