"""Pytest fixtures around the fault proxy; import them where they are needed::

from tests.support.fixtures import fault_proxy  # noqa: F401  (in a conftest.py or test module)

def test_backup_survives_throttling(fault_proxy, moto):
    proxy, endpoint = fault_proxy(moto, Fault.slow_down(p=0.2), seed=7)
    ...  # point bucketvault at `endpoint`; assert on proxy.counters()
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, NamedTuple, Protocol

import boto3
import pytest
from botocore.config import Config

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.config.secret import Secret
from bucketvault.loopback import LoopbackServer
from tests.support.faultproxy import DownMode, Fault, FaultProxy


class ProxiedEndpoint(NamedTuple):
    """A started proxy and the endpoint that reaches the server through it."""

    proxy: FaultProxy
    endpoint: EndpointConfig


class FaultProxyFactory(Protocol):
    def __call__(
        self,
        server: LoopbackServer,
        *faults: Fault,
        seed: int = 0,
        io_timeout: float = 30.0,
        idle_timeout: float = 60.0,
        down_mode: DownMode = "refuse",
    ) -> ProxiedEndpoint: ...


@pytest.fixture
def fault_proxy() -> Iterator[FaultProxyFactory]:
    """A factory: ``fault_proxy(server, *faults, seed=0)`` starts a proxy in front of
    ``server`` and returns ``(proxy, endpoint)``; every proxy stops at the end of the test."""
    with contextlib.ExitStack() as stack:

        def make(
            server: LoopbackServer,
            *faults: Fault,
            seed: int = 0,
            io_timeout: float = 30.0,
            idle_timeout: float = 60.0,
            down_mode: DownMode = "refuse",
        ) -> ProxiedEndpoint:
            proxy = FaultProxy(
                server,
                faults=faults,
                seed=seed,
                io_timeout=io_timeout,
                idle_timeout=idle_timeout,
                down_mode=down_mode,
            )
            stack.enter_context(proxy)
            endpoint = EndpointConfig(
                url=proxy.url,
                access_key_id=server.access_key,
                secret_access_key=Secret(server.secret_key),
            )
            return ProxiedEndpoint(proxy, endpoint)

        yield make


def single_shot_client(
    server: LoopbackServer,
    url: str,
    *,
    read_timeout: float = 5.0,
    connect_timeout: float = 2.0,
    **config: Any,
) -> Any:
    """A boto3 client for ``url`` (e.g. a proxy in front of ``server``) that makes exactly one
    attempt per call, so a test sees every injected fault as it happened."""
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1},
            read_timeout=read_timeout,
            connect_timeout=connect_timeout,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            **config,
        ),
    )


__all__ = ["FaultProxyFactory", "ProxiedEndpoint", "fault_proxy", "single_shot_client"]
