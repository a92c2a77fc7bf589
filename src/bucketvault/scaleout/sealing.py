"""Endpoint descriptions that cross process and machine boundaries encrypted.

A worker needs the stores' credentials, and whatever a task carries may be shown by its
executor (Ray's dashboard and logs show task arguments and object-store contents). So a
description is sealed with AES-GCM under a key the task never carries: a per-run key
handed to local worker processes over their private pipe, or, on a Ray cluster, the
cluster key file every node has at the same path (`$BUCKETVAULT_CLUSTER_KEY_FILE`, by
default `cluster.key` in bucketvault's home; created 0600 on first use).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from bucketvault.config.endpoint import Encryption, EndpointConfig
from bucketvault.config.home import home_dir
from bucketvault.config.secret import Secret
from bucketvault.errors import ConfigError

KEY_BYTES = 32
_NONCE_BYTES = 12
CLUSTER_KEY_ENV = "BUCKETVAULT_CLUSTER_KEY_FILE"


@dataclass(frozen=True, slots=True)
class Sealed:
    """Ciphertext; its repr shows nothing of it."""

    blob: bytes

    def __repr__(self) -> str:
        return f"Sealed({len(self.blob)} bytes)"


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def cluster_key_path() -> Path:
    configured = os.environ.get(CLUSTER_KEY_ENV)
    return Path(configured) if configured else home_dir() / "cluster.key"


def cluster_key(*, create: bool = False) -> bytes:
    """The key every node of a cluster shares; created (0600) when `create` and missing."""
    path = cluster_key_path()
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        if not create:
            raise ConfigError(
                f"no cluster key at {path}: give every Ray node the same key file and set "
                f"${CLUSTER_KEY_ENV} to its path (see docs/scale-out.md)"
            ) from None
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = new_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cluster_key()
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key
    if len(key) != KEY_BYTES:
        raise ConfigError(f"cluster key {path} must hold {KEY_BYTES} bytes; it has {len(key)}")
    return key


def _aead(key: bytes):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def seal_endpoint(config: EndpointConfig, key: bytes) -> Sealed:
    fields = {
        "url": config.url,
        "access_key_id": config.access_key_id,
        "secret_access_key": (
            config.secret_access_key.reveal() if config.secret_access_key is not None else None
        ),
        "region": config.region,
        "ca_bundle": config.ca_bundle,
        "insecure": config.insecure,
        "encryption": (
            None
            if config.encryption is None
            else [
                config.encryption.mode,
                config.encryption.kms_key_id,
                config.encryption.key_file,
            ]
        ),
    }
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return Sealed(nonce + _aead(key).encrypt(nonce, json.dumps(fields).encode(), None))


def unseal_endpoint(sealed: Sealed, key: bytes) -> EndpointConfig:
    from cryptography.exceptions import InvalidTag

    nonce, body = sealed.blob[:_NONCE_BYTES], sealed.blob[_NONCE_BYTES:]
    try:
        fields = json.loads(_aead(key).decrypt(nonce, body, None))
    except InvalidTag:
        raise ConfigError(
            "this worker cannot read the run's store credentials: its cluster key differs "
            f"from the coordinator's (every node needs the same ${CLUSTER_KEY_ENV} file)"
        ) from None
    secret = fields.pop("secret_access_key")
    encryption = fields.pop("encryption")
    return EndpointConfig(
        **fields,
        secret_access_key=Secret(secret) if secret is not None else None,
        encryption=Encryption(*encryption) if encryption is not None else None,
    )
