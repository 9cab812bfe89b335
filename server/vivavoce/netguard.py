"""What counts as loopback, and which addresses vivavoce may listen on.

One rule, used by every part that asks (the ``vivavoce`` commands, the WebSocket and web
servers, ICE for calls that stay on this machine). A host is loopback when it is

* ``localhost``, in any case, with or without the trailing dot of a fully qualified name
  (``LOCALHOST``, ``localhost.``). Names *under* it (``app.localhost``) are not: not every
  resolver maps them to loopback;
* an address in 127.0.0.0/8 or ``::1`` (an IPv6 zone, ``::1%lo``, is allowed);
* an IPv4-mapped IPv6 address of one of those (``::ffff:127.0.0.1``): a dual-stack socket
  bound to it, or a client seen from one, is on 127.0.0.1.

Anything else is not: wildcards (``0.0.0.0``, ``::``), other names (they may resolve anywhere),
short forms such as ``127.1`` (refused rather than guessed), an empty host.

The host may be given bare (``::1``, ``[::1]``, ``localhost:8080``, ``[::1]:8080``) or inside a
URL (``http://127.0.0.1:8765/v1``, ``ws://[::1]:9/``).

Servers vivavoce starts (``vivavoce peer``, ``vivavoce lsp --tcp``/``--ws``, ``vivavoce web``)
listen on loopback. Any other address needs an explicit ``--allow-remote``, and a server that
takes a key also needs the key, so that it never answers the network without it.
:func:`check_bind` is that rule.
"""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlsplit

from .errors import RefusedError

__all__ = ["addressed_here", "check_bind", "is_loopback", "loopback_address"]


def _host(url_or_host: str) -> str:
    """The host part of a URL, ``host:port`` or bare host, without brackets ('' if none)."""
    text = url_or_host.strip()
    if "//" not in text:
        try:  # a bare IPv6 address has colons that are not a port
            return str(ipaddress.ip_address(text.strip("[]")))
        except ValueError:
            text = f"//{text}"
    try:
        return urlsplit(text).hostname or ""
    except ValueError:  # an unclosed bracket
        return ""


def loopback_address(url_or_host: str) -> str | None:
    """The loopback IP address ``url_or_host`` names, or None if it is not loopback.

    ``localhost`` gives ``127.0.0.1`` and a mapped ``::ffff:127.x.y.z`` its IPv4 form: the
    address to bind to or to offer ICE candidates on.
    """
    host = _host(url_or_host)
    if host.lower() in ("localhost", "localhost."):
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address) if address.is_loopback else None


def is_loopback(url_or_host: str) -> bool:
    """True when ``url_or_host`` names this machine's loopback (the rule in the module doc)."""
    return loopback_address(url_or_host) is not None


def addressed_here(host_header: str | None, bound: str) -> bool:
    """Whether a request's ``Host`` header names this server, which listens on ``bound``.

    The DNS-rebinding rule of every server vivavoce starts: a page on ``evil.example`` whose
    name now resolves to 127.0.0.1 reaches a loopback port, but its requests say
    ``Host: evil.example``. Admitted: a loopback name or address (:func:`is_loopback`, with
    or without a port), or the host the server was told to bind (any host for a wildcard bind,
    where only the key guards it). A missing header, or one that is not ``host[:port]``, is not.
    """
    if not host_header or any(c in host_header for c in "/@?#\\ \t"):
        return False
    if is_loopback(host_header):
        return True
    wanted = _canonical(bound)
    if not wanted or (not isinstance(wanted, str) and wanted.is_unspecified):
        return True  # a wildcard bind listens on every address
    return _canonical(host_header) == wanted


def _canonical(host: str) -> str | ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A host's comparable form: an address, or a name in lower case."""
    name = _host(host)
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return name.lower().rstrip(".")


def check_bind(
    host: str,
    *,
    allow_remote: bool,
    api_key: str | Literal[False] | None = False,
) -> None:
    """Raise :class:`RefusedError` (one line) unless a server may listen on ``host``.

    Loopback is always allowed. Another address needs ``allow_remote``; a server that takes
    a key (``api_key`` is the key, or None when none was given) needs it too. ``api_key=False``
    is a server with no key option: the WebSocket servers check their per-start token, and
    ``lsp --tcp`` on another address is the user's explicit choice.
    """
    if is_loopback(host):
        return
    keyed = api_key is not False
    if not allow_remote:
        with_key = " with --api-key" if keyed else ""
        raise RefusedError(
            f"refusing to listen on {host}: only loopback (127.0.0.1) unless --allow-remote"
            f"{with_key}",
            key="host",
        )
    if keyed and not api_key:
        raise RefusedError(
            f"refusing to listen on {host} without a key: --allow-remote needs --api-key",
            key="apiKey",
        )
