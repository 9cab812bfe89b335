"""LSP request params, fuzzed into ``vivavoce.lsp.params.parse`` for every model."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic.alias_generators import to_camel

from tests.fuzz.strategies import json_values, objects_with
from vivavoce.errors import ConfigError
from vivavoce.lsp import params as P

MODELS = [
    P.NoParams,
    P.StartParams,
    P.SendTextParams,
    P.PushToTalkParams,
    P.MuteParams,
    P.ContextParams,
    P.TextDocument,
    P.Position,
    P.Range,
]


def _keys(model: type[Any]) -> list[str]:
    return [to_camel(name) for name in model.model_fields]


def _check(model: type[Any], raw: Any, positional: bool) -> None:
    if positional and not isinstance(raw, list):
        raw = [raw]  # pygls always hands a command's arguments over as a list
    try:
        result = P.parse(model, raw, positional=positional)
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 400, message
        assert "Traceback" not in message
    else:
        assert isinstance(result, model)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@given(raw=json_values, positional=st.booleans())
def test_any_json_is_a_model_or_one_line_invalid_params(
    model: type[Any], raw: Any, positional: bool
) -> None:
    _check(model, raw, positional)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@given(data=st.data())
def test_objects_with_real_field_names_are_a_model_or_one_line_invalid_params(
    model: type[Any], data: st.DataObject
) -> None:
    raw = data.draw(objects_with(_keys(model)))
    _check(model, raw, positional=False)
    _check(model, [raw], positional=True)
