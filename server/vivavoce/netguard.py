"""Which addresses vivavoce may listen on.

Servers vivavoce starts (``vivavoce peer``, ``vivavoce lsp --tcp``) listen on loopback. Any
other address needs an explicit ``--allow-remote`` *and* a key, so that nothing reachable from
the network answers without authentication. :func:`check_bind` is that one rule.
"""

from __future__ import annotations

import ipaddress

from .errors import ConfigError

__all__ = ["check_bind", "is_loopback_host"]


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; false for wildcards and everything else."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, *, allow_remote: bool, api_key: str | None, what: str) -> None:
    """Raise :class:`ConfigError` (one line) unless listening on ``host`` is allowed."""
    if is_loopback_host(host):
        return
    if not allow_remote:
        raise ConfigError(
            f"{what} listens on loopback only; {host!r} is not a loopback address "
            "(use --allow-remote with --api-key to listen on it)",
            key="host",
        )
    if not api_key:
        raise ConfigError(
            f"{what} on {host!r} would be reachable from the network: --allow-remote needs "
            "--api-key",
            key="apiKey",
        )
