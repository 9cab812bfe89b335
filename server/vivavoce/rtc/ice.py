"""Keep ICE on loopback for calls that stay on this machine.

aioice gathers every interface address except 127.0.0.1, so two peers on loopback find
no common path, and a machine with only ``lo`` gathers nothing at all. aioice looks up
``aioice.ice.get_host_addresses`` at gather time; we wrap it once and let a context
variable decide per call: inside ``host_addresses(["127.0.0.1"])`` only those addresses are
offered, outside it aioice behaves as before. Context variables follow asyncio tasks, so
a call to a real server in the same process is never restricted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ..netguard import is_loopback, loopback_address

# ``is_loopback`` is netguard's, still importable from here for the call and the conversation.
__all__ = ["candidate_count", "host_addresses", "install", "is_loopback", "loopback_hosts_for"]

_hosts: ContextVar[tuple[str, ...] | None] = ContextVar("vivavoce_ice_hosts", default=None)
_installed = False


def install() -> None:
    """Wrap aioice's host-address discovery (once per process)."""
    global _installed
    if _installed:
        return
    import aioice.ice

    original = aioice.ice.get_host_addresses

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        hosts = _hosts.get()
        if hosts is None:
            return list(original(use_ipv4, use_ipv6))
        return [h for h in hosts if (":" in h and use_ipv6) or (":" not in h and use_ipv4)]

    aioice.ice.get_host_addresses = get_host_addresses
    _installed = True


@contextmanager
def host_addresses(hosts: list[str] | None) -> Iterator[None]:
    """Within this block (and tasks started in it), ICE gathers only on ``hosts``.

    ``None`` leaves aioice's own discovery in place.
    """
    install()
    token = _hosts.set(tuple(hosts) if hosts is not None else None)
    try:
        yield
    finally:
        _hosts.reset(token)


def loopback_hosts_for(url_or_host: str) -> list[str] | None:
    """ICE hosts for a call to ``url_or_host``: its loopback address, or None (no restriction)."""
    address = loopback_address(url_or_host)
    return None if address is None else [address]


def candidate_count(sdp: str) -> int:
    return sum(1 for line in sdp.splitlines() if line.startswith("a=candidate:"))
