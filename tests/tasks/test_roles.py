"""`tasks.roles`: a store error names the store it came from and where its credentials
come from, keeping its class (so its exit code and retry class). Against real servers:
tests/e2e/test_store_checks.py."""

from __future__ import annotations

import pytest

from bucketvault.errors import AccessDeniedError, ExitCode, StoreError, TransientStoreError
from bucketvault.tasks.roles import alias_role, as_store, as_stores, backup_role, live_role

LIVE, BACKUP = "http://127.0.0.1:9000", "http://127.0.0.1:90"


def denied(url: str, code: str = "SignatureDoesNotMatch") -> AccessDeniedError:
    return AccessDeniedError(
        f"access denied by {url} for the bucket list: check the access key and secret key",
        code=code,
        status=403,
    )


def test_denied_names_the_live_store_and_its_credentials() -> None:
    error = denied(LIVE)
    with pytest.raises(AccessDeniedError) as caught, as_store(live_role("minio", LIVE)):
        raise error
    assert caught.value is error and error.code == "SignatureDoesNotMatch"
    assert error.exit_code == ExitCode.STORE
    assert str(error) == (
        f"the live store of service 'minio' at {LIVE}: access denied for the bucket list "
        "(SignatureDoesNotMatch): the access key or secret key is wrong; its credentials are "
        "those given to `bucketvault service add minio` (--access-key; the secret from "
        "--secret-file, --secret-stdin or $BUCKETVAULT_SECRET_ACCESS_KEY; --replace changes "
        "them)"
    )


def test_permission_and_other_errors() -> None:
    error = denied(BACKUP, code="AccessDenied")
    backup_role("minio", BACKUP).explain(error)
    assert "wrong or lack permission" in str(error) and "ACCESS_KEY_ID and SECRET" in str(error)
    gone = TransientStoreError(f"cannot reach {BACKUP}: connection refused")
    backup_role("minio", BACKUP).explain(gone)
    assert type(gone) is TransientStoreError
    assert str(gone) == f"the backup store of service 'minio': cannot reach {BACKUP}: " + (
        "connection refused"
    )
    backup_role("minio", BACKUP).explain(gone)  # once only
    assert str(gone).count("the backup store") == 1


@pytest.mark.parametrize(
    ("url", "named"),
    [
        pytest.param(LIVE, "the live store", id="live"),
        pytest.param(BACKUP, "the backup store", id="backup-url-a-prefix-of-live"),
        pytest.param("http://127.0.0.1:1", None, id="neither"),
    ],
)
def test_by_url(url: str, named: str | None) -> None:
    roles = (live_role("minio", LIVE), backup_role("minio", BACKUP))
    error = denied(url)
    with pytest.raises(StoreError), as_stores(roles):
        raise error
    if named is None:
        assert str(error).startswith("access denied by")
    else:
        assert str(error).startswith(named), str(error)


def test_one_url_two_stores_names_both() -> None:
    roles = (alias_role("a", LIVE), alias_role("b", LIVE + "/"))
    error = denied(LIVE)
    with pytest.raises(StoreError), as_stores(roles):
        raise error
    text = str(error)
    assert text.startswith("alias 'a' or alias 'b'") and "$BUCKETVAULT_ALIAS_B" in text
