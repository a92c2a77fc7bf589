"""AWS Signature Version 4 for S3 requests, headers only, bodies unsigned.

Python's `hmac` and `hashlib` (OpenSSL underneath) do the hashing, so one signature is
a SHA-256 of the canonical request and one HMAC with the day's signing key, which is
derived once a day. Measured against awscrt's C signer, which bucketvault used before
(`bench/signer_probe.py`): 9 us a request against 16-20 us, and 3 ms to import
against awscrt's 53 ms (its native library) at every start-up. botocore's signer is the
reference the tests hold it to.

What is signed is exactly what `s3_wire` sends: the path as encoded (S3 neither
re-encodes nor normalises it), the query already in canonical form, every header given.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_SERVICE = "s3"


class SigV4:
    """Signs requests with one set of credentials for one region."""

    def __init__(self, access_key_id: str, secret_access_key: str, region: str) -> None:
        self._access_key_id = access_key_id
        self._secret = ("AWS4" + secret_access_key).encode()
        self._region = region
        # (second, timestamp, scope, HMAC with the signing key) of the last signature,
        # replaced whole so that threads sharing the signer never see one second's stamp
        # with another day's key
        self._now: tuple[int, str, str, hmac.HMAC] = (-1, "", "", hmac.new(b"", digestmod="sha256"))

    def __repr__(self) -> str:
        return f"SigV4({self._access_key_id!r}, region={self._region!r})"

    def sign(
        self, method: str, target: str, headers: Mapping[str, str], *, now: float | None = None
    ) -> dict[str, str]:
        """`headers` (which must name the Host) with `x-amz-date`,
        `x-amz-content-sha256` and `Authorization` added, for a request of `method` to
        `target` (path and canonical query, as sent)."""
        stamp, scope, day_hmac = self._clock(time.time() if now is None else now)
        canonical = [(name.lower(), _trimmed(value)) for name, value in headers.items()]
        canonical.append(("x-amz-content-sha256", UNSIGNED_PAYLOAD))
        canonical.append(("x-amz-date", stamp))
        canonical.sort()
        names = ";".join([name for name, _ in canonical])
        path, _, query = target.partition("?")
        request = (
            f"{method}\n{path}\n{_canonical_query(query)}\n"
            + "".join([f"{name}:{value}\n" for name, value in canonical])
            + f"\n{names}\n{UNSIGNED_PAYLOAD}"
        )
        digest = hashlib.sha256(request.encode()).hexdigest()
        mac = day_hmac.copy()
        mac.update(f"{ALGORITHM}\n{stamp}\n{scope}\n{digest}".encode())
        signed = dict(headers)
        signed["x-amz-date"] = stamp
        signed["x-amz-content-sha256"] = UNSIGNED_PAYLOAD
        signed["Authorization"] = (
            f"{ALGORITHM} Credential={self._access_key_id}/{scope}, "
            f"SignedHeaders={names}, Signature={mac.hexdigest()}"
        )
        return signed

    def _clock(self, now: float) -> tuple[str, str, hmac.HMAC]:
        """The timestamp, credential scope and an HMAC keyed with the signing key for
        `now`; the key is derived again only when the day changes. Copying a keyed HMAC
        costs about 2 us where `hmac.digest` with the key costs nearly 4 (it looks up
        the hash and pads the key on every call)."""
        second, stamp, scope, day_hmac = self._now
        if int(now) != second:
            second = int(now)
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
            if stamp[:8] != scope[:8]:
                day = stamp[:8]
                scope = f"{day}/{self._region}/{_SERVICE}/aws4_request"
                key = self._secret
                for part in (day, self._region, _SERVICE, "aws4_request"):
                    key = hmac.digest(key, part.encode(), "sha256")
                day_hmac = hmac.new(key, digestmod="sha256")
            self._now = (second, stamp, scope, day_hmac)
        return stamp, scope, day_hmac


def _trimmed(value: str) -> str:
    """A header value as SigV4 canonicalises it: trimmed, inner runs of whitespace made
    one space. Nearly every value has none to change, and checking is cheaper than
    splitting: a printable value holds no whitespace but the ASCII space."""
    if value.isprintable() and "  " not in value and value[:1] != " " and value[-1:] != " ":
        return value
    return " ".join(value.split())


def _canonical_query(query: str) -> str:
    """`s3_wire.canonical_query`'s string as SigV4 spells it: a name without a value
    (`?uploads`) gets its `=`."""
    if not query:
        return ""
    return "&".join(pair if "=" in pair else pair + "=" for pair in query.split("&"))
