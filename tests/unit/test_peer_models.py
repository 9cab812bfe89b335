"""The local peer answers to every realtime model name the official SDK lists."""

from __future__ import annotations

import typing

import pytest

from vivavoce.peer.errors import ApiError
from vivavoce.peer.models import check_model


def _sdk_realtime_models() -> list[str]:
    from openai.types.realtime.realtime_session_create_request import (
        RealtimeSessionCreateRequest,
    )

    names: list[str] = []
    for arm in typing.get_args(RealtimeSessionCreateRequest.model_fields["model"].annotation):
        names += [a for a in typing.get_args(arm) if isinstance(a, str)]
    return names


def test_the_peer_accepts_every_realtime_model_the_sdk_lists() -> None:
    names = _sdk_realtime_models()
    assert "gpt-realtime-2.1" in names and len(names) > 10  # the SDK's list was found
    refused = []
    for name in names:
        try:
            check_model(name, "realtime")
        except ApiError:
            refused.append(name)
    assert not refused


def test_an_unknown_realtime_model_gets_the_apis_400() -> None:
    with pytest.raises(ApiError) as caught:
        check_model("gpt-realtime-9000", "realtime", param="session.model")
    assert caught.value.status == 400 and caught.value.code == "invalid_value"
    assert caught.value.param == "session.model"
    assert "Supported values are:" in caught.value.message


def test_the_peer_does_not_import_openai() -> None:
    import subprocess
    import sys

    code = (
        "import sys, vivavoce.peer.app, vivavoce.peer.session, vivavoce.peer.models;"
        "print('openai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
