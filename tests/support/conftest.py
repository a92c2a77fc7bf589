"""Make the fault-proxy fixtures available to the tests of the proxy itself."""

from tests.support.fixtures import fault_proxy

__all__ = ["fault_proxy"]
