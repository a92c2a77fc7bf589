"""Looking for a secret everywhere: raw, URL-encoded and base64 (at any alignment)."""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

# files under BUCKETVAULT_HOME that exist to hold credentials (each must be mode 0600)
SECRET_FILES = ("services.json", "aliases.json")


def forms(secret: str) -> list[bytes]:
    """Every encoding of `secret` worth looking for, as bytes."""
    raw = secret.encode()
    found = {
        raw,
        urllib.parse.quote(secret, safe="").encode(),
        urllib.parse.quote_plus(secret).encode(),
        urllib.parse.quote(secret).encode(),
    }
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for pad in range(3):
            # the base64 of the secret inside a longer string depends on its offset mod 3;
            # the characters away from both ends do not depend on what surrounds it
            encoded = encode(b"\0" * pad + raw)
            start = 4 if pad else 0
            found.add(encoded[start:-4])
    return sorted(f for f in found if len(f) >= 8)


def leaks(secrets: Iterable[str], haystack: str | bytes) -> list[str]:
    """Which secrets (by index) appear in `haystack` in any form, and how."""
    data = haystack.encode("utf-8", "surrogateescape") if isinstance(haystack, str) else haystack
    return [
        f"secret #{i} as {form[:12]!r}..."
        for i, secret in enumerate(secrets)
        for form in forms(secret)
        if form in data
    ]


def allowed_secret_file(home: Path, path: Path) -> bool:
    """Files meant to hold secrets: services.json, aliases.json and secrets/*."""
    parts = path.relative_to(home).parts
    return (len(parts) == 1 and parts[0] in SECRET_FILES) or (
        len(parts) == 2 and parts[0] == "secrets"
    )


def home_leaks(home: Path, secrets: Iterable[str]) -> list[str]:
    """Secrets in any file under `home` other than the 0600 files meant for them, and
    those files' modes."""
    problems: list[str] = []
    secrets = list(secrets)
    for path in sorted(home.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        found = leaks(secrets, path.read_bytes())
        if allowed_secret_file(home, path):
            if path.stat().st_mode & 0o077:
                problems.append(f"{path}: mode {oct(path.stat().st_mode & 0o777)}, not 0600")
        elif found:
            problems.append(f"{path}: {found}")
    return problems
