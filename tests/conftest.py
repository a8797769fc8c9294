"""Shared test setup: no test may reach a real provider host.

Every connection and DNS lookup to anything but loopback fails the test at once, so a
provider test that forgot to point its SDK at the local server cannot leak a request
(or a key) to the internet.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo

_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "", None}


class NetworkGuardError(RuntimeError):
    """A test tried to reach a host that is not on this machine."""


def _is_local(host) -> bool:
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check(address) -> None:
    if isinstance(address, tuple) and not _is_local(address[0]):
        raise NetworkGuardError(f"test tried to connect to {address[0]}; tests must stay on 127.0.0.1")


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if isinstance(host, bytes):
        host = host.decode()
    if not _is_local(host):
        raise NetworkGuardError(f"test tried to resolve {host}; tests must stay on 127.0.0.1")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex
socket.getaddrinfo = _guarded_getaddrinfo


@pytest.fixture(autouse=True)
def _no_provider_keys(monkeypatch):
    """Tests start with no provider keys or base-URL overrides from the developer's shell."""
    import os

    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_BASE_URL")) or name in {"OPENAI_ORG_ID", "OPENAI_PROJECT_ID"}:
            if not name.startswith("LIVE_"):
                monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLM_SOLUTIONS_NO_DOTENV", "1")
