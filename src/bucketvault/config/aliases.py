"""Named S3 endpoints with their credentials, like `mc alias`.

Aliases live in `<home>/aliases.json` (mode 0600). An environment variable
`BUCKETVAULT_ALIAS_<NAME>=https://ACCESS_KEY:SECRET_KEY@host:port` defines or overrides
one for a single run, so scripts need not write a file.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.config.home import home_dir, read_json, write_private
from bucketvault.config.secret import Secret
from bucketvault.errors import ConfigError, NotFoundError

ENV_PREFIX = "BUCKETVAULT_ALIAS_"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")


def check_name(name: str, what: str = "alias") -> str:
    if not _NAME.match(name):
        raise ConfigError(
            f"{what} name {name!r} is invalid: use letters, digits, '-' or '_', "
            "starting with a letter"
        )
    return name


def _path() -> Any:
    return home_dir() / "aliases.json"


def endpoint_to_record(config: EndpointConfig) -> dict[str, Any]:
    return {
        "url": config.url,
        "access_key_id": config.access_key_id,
        "secret_access_key": config.secret_access_key.reveal()
        if config.secret_access_key
        else None,
        "region": config.region,
        "ca_bundle": config.ca_bundle,
        "insecure": config.insecure,
    }


def endpoint_from_record(record: dict[str, Any], where: str) -> EndpointConfig:
    try:
        secret = record.get("secret_access_key")
        return EndpointConfig(
            url=str(record["url"]),
            access_key_id=record.get("access_key_id"),
            secret_access_key=Secret(str(secret)) if secret else None,
            region=str(record.get("region") or "us-east-1"),
            ca_bundle=record.get("ca_bundle"),
            insecure=bool(record.get("insecure", False)),
        )
    except KeyError as exc:
        raise ConfigError(f"{where} has no {exc.args[0]!r}: fix or re-add it") from None


def endpoint_from_credential_url(text: str, where: str) -> EndpointConfig:
    """`https://KEY:SECRET@host:port` → an endpoint; the secret never appears in errors."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where} must look like https://ACCESS_KEY:SECRET_KEY@host[:port]")
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        raise ConfigError(f"{where} has an invalid port") from None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return EndpointConfig(
        url=f"{parts.scheme}://{host}{port}",
        access_key_id=unquote(parts.username) if parts.username else None,
        secret_access_key=Secret(unquote(parts.password)) if parts.password else None,
    )


def load_aliases() -> dict[str, EndpointConfig]:
    aliases = {
        name: endpoint_from_record(record, f"alias {name!r} in {_path()}")
        for name, record in read_json(_path()).items()
    }
    for variable, value in os.environ.items():
        if variable.startswith(ENV_PREFIX) and value:
            name = variable[len(ENV_PREFIX) :].lower()
            aliases[name] = endpoint_from_credential_url(value, f"${variable}")
    return aliases


def get_alias(name: str) -> EndpointConfig:
    aliases = load_aliases()
    found = aliases.get(name) or aliases.get(name.lower())
    if found is None:
        known = ", ".join(sorted(aliases)) or "none"
        raise NotFoundError(
            f"no alias {name!r} (known: {known}): add it with `bucketvault alias set {name} URL`"
        )
    return found


def save_alias(name: str, config: EndpointConfig) -> None:
    check_name(name)
    records = read_json(_path())
    records[name] = endpoint_to_record(config)
    write_private(_path(), json.dumps(records, indent=2, sort_keys=True))


def remove_alias(name: str) -> None:
    records = read_json(_path())
    if name not in records:
        raise NotFoundError(f"no alias {name!r} in {_path()}")
    del records[name]
    write_private(_path(), json.dumps(records, indent=2, sort_keys=True))
