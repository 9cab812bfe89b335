"""The VS Code extension's settings are the server's: package.json ``contributes.configuration``
is exactly what ``scripts/vscode_settings_schema.py`` generates from :class:`Settings`.

After changing ``vivavoce.settings``, run ``python scripts/vscode_settings_schema.py --write``.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

from vivavoce.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_JSON = ROOT / "clients" / "vscode" / "package.json"


def _generator() -> ModuleType:
    path = ROOT / "scripts" / "vscode_settings_schema.py"
    spec = importlib.util.spec_from_file_location("vscode_settings_schema", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _contributed() -> dict[str, Any]:
    config: dict[str, Any] = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))["contributes"][
        "configuration"
    ]
    return config


def test_package_json_settings_match_the_server_settings_exactly() -> None:
    expected = _generator().configuration()
    assert _contributed() == expected, (
        "clients/vscode/package.json is stale: run python scripts/vscode_settings_schema.py --write"
    )


def test_every_server_setting_is_contributed_with_the_servers_default() -> None:
    properties = _contributed()["properties"]
    defaults = Settings.model_construct().model_dump(mode="json", by_alias=True)

    def leaves(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, dict) and value:  # a section; an empty one is a map (prices)
                out.update(leaves(value, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = value
        return out

    server = {f"vivavoce.{k}": v for k, v in leaves(defaults).items()}
    assert {k: properties[k]["default"] for k in server} == server
    client_only = set(properties) - set(server)
    assert client_only == {"vivavoce.server.command", "vivavoce.trace.server"}


def test_api_key_is_machine_scoped_and_recommends_the_environment() -> None:
    api_key = _contributed()["properties"]["vivavoce.apiKey"]
    assert api_key["scope"] == "machine"
    assert api_key["type"] == ["string", "null"]
    assert "OPENAI_API_KEY" in api_key["markdownDescription"]


def test_check_mode_reports_a_stale_package_json(tmp_path: Path, monkeypatch: Any) -> None:
    generator = _generator()
    stale = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))
    del stale["contributes"]["configuration"]["properties"]["vivavoce.voice"]
    copy = tmp_path / "package.json"
    copy.write_text(json.dumps(stale), encoding="utf-8")
    monkeypatch.setattr(generator, "PACKAGE_JSON", copy)
    assert generator.main(["--check"]) == 1
    assert generator.main(["--write"]) == 0
    assert generator.main(["--check"]) == 0
