"""The one loopback rule (:mod:`vivavoce.netguard`) and the one bind check."""

from __future__ import annotations

import pytest

from vivavoce.errors import ConfigError, RefusedError
from vivavoce.netguard import addressed_here, check_bind, is_loopback, loopback_address
from vivavoce.rtc import ice

# (what is given, the loopback address it names or None)
CASES = [
    ("127.0.0.1", "127.0.0.1"),
    ("127.8.9.10", "127.8.9.10"),  # all of 127.0.0.0/8
    ("::1", "::1"),
    ("[::1]", "::1"),
    ("0:0:0:0:0:0:0:1", "::1"),
    ("::1%lo", "::1%lo"),  # with a zone
    ("localhost", "127.0.0.1"),
    ("LocalHost", "127.0.0.1"),  # DNS names ignore case
    ("localhost.", "127.0.0.1"),  # the fully qualified form
    ("::ffff:127.0.0.1", "127.0.0.1"),  # IPv4-mapped: what a dual-stack socket sees
    ("[::ffff:7f00:2]:80", "127.0.0.2"),
    ("127.0.0.1:8765", "127.0.0.1"),
    ("[::1]:8765", "::1"),
    ("localhost:8765", "127.0.0.1"),
    (" 127.0.0.1 ", "127.0.0.1"),
    ("http://127.0.0.1:8765/v1", "127.0.0.1"),
    ("https://LOCALHOST/v1", "127.0.0.1"),
    ("ws://[::1]:9/?token=x", "::1"),
    ("http://user@127.0.0.1/", "127.0.0.1"),
    # Not loopback: wildcards, other addresses, names that may resolve anywhere.
    ("0.0.0.0", None),
    ("::", None),
    ("[::]:80", None),
    ("", None),
    ("192.168.1.2", None),
    ("::ffff:192.168.1.2", None),
    ("128.0.0.1", None),
    ("127.1", None),  # a short form: refused rather than guessed
    ("app.localhost", None),  # not every resolver maps names under localhost
    ("localhost.example.com", None),
    ("localhost..", None),
    ("example.com", None),
    ("http://127.0.0.1.example.com/", None),
    ("https://api.openai.com/v1", None),
    ("http://[::1/", None),  # malformed: not loopback, no exception
]


@pytest.mark.parametrize(("given", "address"), CASES)
def test_loopback_rule(given: str, address: str | None) -> None:
    assert loopback_address(given) == address
    assert is_loopback(given) is (address is not None)


def test_ice_offers_the_loopback_address_named_and_leaves_other_calls_alone() -> None:
    assert ice.is_loopback is is_loopback  # one rule, re-exported for the call
    assert ice.loopback_hosts_for("http://localhost:8765/v1") == ["127.0.0.1"]
    assert ice.loopback_hosts_for("[::1]") == ["::1"]
    assert ice.loopback_hosts_for("https://api.openai.com/v1") is None


def test_loopback_may_always_be_bound() -> None:
    check_bind("127.0.0.1", allow_remote=False)
    check_bind("::1", allow_remote=False, api_key=None)


def test_another_address_needs_allow_remote() -> None:
    with pytest.raises(RefusedError, match=r"^refusing to listen on 0\.0\.0\.0: only loopback"):
        check_bind("0.0.0.0", allow_remote=False)
    check_bind("0.0.0.0", allow_remote=True)


def test_a_server_that_takes_a_key_needs_it_on_another_address() -> None:
    with pytest.raises(RefusedError, match="unless --allow-remote with --api-key$"):
        check_bind("0.0.0.0", allow_remote=False, api_key="k")
    with pytest.raises(RefusedError, match="--allow-remote needs --api-key") as info:
        check_bind("0.0.0.0", allow_remote=True, api_key=None)
    assert info.value.key == "apiKey"
    check_bind("0.0.0.0", allow_remote=True, api_key="k")


def test_a_refusal_is_a_config_error() -> None:
    # ``vivavoce peer`` catches ConfigError around check_bind.
    assert issubclass(RefusedError, ConfigError)


# (Host header, the host the server was bound to, admitted?)
HOST_CASES = [
    ("127.0.0.1:8765", "127.0.0.1", True),
    ("localhost:8765", "127.0.0.1", True),
    ("[::1]:8765", "127.0.0.1", True),  # any loopback name, whatever loopback address is bound
    ("LOCALHOST", "::1", True),
    ("192.168.1.5:80", "192.168.1.5", True),  # the configured host
    ("[2001:db8::1]:80", "2001:db8:0:0::1", True),  # in another spelling
    ("Box.Lan.", "box.lan", True),
    ("anything.example", "0.0.0.0", True),  # a wildcard bind: only the key guards it
    ("anything.example", "::", True),
    # DNS rebinding: the page's own name, whatever it resolves to now.
    ("evil.example", "127.0.0.1", False),
    ("evil.example:8765", "127.0.0.1", False),
    ("127.0.0.1.evil.example", "127.0.0.1", False),
    ("localhost.evil.example", "127.0.0.1", False),
    ("192.168.1.5", "127.0.0.1", False),
    ("evil.example", "192.168.1.5", False),
    # Not a host[:port]: refused rather than parsed leniently.
    ("127.0.0.1@evil.example", "127.0.0.1", False),
    ("evil.example/127.0.0.1", "127.0.0.1", False),
    ("127.0.0.1 evil.example", "127.0.0.1", False),
    ("", "127.0.0.1", False),
    (None, "127.0.0.1", False),
]


@pytest.mark.parametrize(("header", "bound", "admitted"), HOST_CASES)
def test_a_request_must_name_the_server_in_its_host_header(
    header: str | None, bound: str, admitted: bool
) -> None:
    assert addressed_here(header, bound) is admitted
