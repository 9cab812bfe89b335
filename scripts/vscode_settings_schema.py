"""VS Code's ``contributes.configuration`` for vivavoce, generated from the server's settings.

:class:`vivavoce.settings.Settings` is the one source of truth. pydantic's JSON schema is
reshaped for VS Code: every leaf becomes a dotted ``vivavoce.*`` key (nested sections such as
``turnDetection`` are flattened, so the Settings editor can show them; VS Code hands them to the
server as the same nested object), ``$ref``s are inlined, ``Optional[X]`` becomes
``type: [X, "null"]``, ``default_factory`` fields get their default, titles are dropped and
descriptions become ``markdownDescription``. Two client-only keys (``server.command``,
``trace.server``) are added; the server never sees them.

    python scripts/vscode_settings_schema.py            # print the JSON
    python scripts/vscode_settings_schema.py --write    # update clients/vscode/package.json
    python scripts/vscode_settings_schema.py --check    # exit 1 if package.json is stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from vivavoce.settings import Settings

PACKAGE_JSON = Path(__file__).resolve().parent.parent / "clients" / "vscode" / "package.json"
PREFIX = "vivavoce."

#: JSON-schema keys VS Code's settings validation understands (others are dropped).
KEPT = ("type", "enum", "items", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")

#: Extra VS Code properties per server key (wire name, dotted).
OVERRIDES: dict[str, dict[str, Any]] = {
    "apiKey": {
        # machine: only in user (or remote) settings, never in a workspace's .vscode/settings.json.
        "scope": "machine",
        "markdownDescription": "API key of the Realtime server. Prefer the `OPENAI_API_KEY` "
        "environment variable: settings are stored as plain text. Never logged.",
    },
}

#: Keys only the extension reads.
CLIENT_ONLY: dict[str, dict[str, Any]] = {
    "server.command": {
        "type": ["array", "string"],
        "items": {"type": "string"},
        "default": ["vivavoce", "lsp"],
        # window, not machine(-overridable): a remote window (Remote-SSH, WSL, containers,
        # code-server) ignores machine-scoped values in User settings; a window-scoped one comes
        # from User settings, overridden by the remote's own settings, then the workspace's.
        "scope": "window",
        "markdownDescription": "Command that starts the language server, as an array "
        '(`["/path/to/.venv/bin/vivavoce", "lsp"]`) or one string. Takes effect after '
        "**vivavoce: Restart Server**.",
    },
    "trace.server": {
        "type": "string",
        "enum": ["off", "messages", "verbose"],
        "default": "off",
        "markdownDescription": "Log the messages between VS Code and the server in the "
        "**vivavoce** output channel.",
    },
}


def _markdown(text: str) -> str:
    """Docstring reST (``x``) → Markdown (`x`)."""
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def _leaf(schema: dict[str, Any], default: Any, description: str | None) -> dict[str, Any]:
    variants = schema.get("anyOf")
    merged: dict[str, Any] = {}
    if variants:
        types = []
        for variant in variants:
            types.append(variant["type"])
            merged.update({k: v for k, v in variant.items() if k in KEPT and k != "type"})
        merged["type"] = types
    merged.update({k: v for k, v in schema.items() if k in KEPT})
    out = {k: merged[k] for k in KEPT if k in merged}
    out["default"] = default
    if description:
        out["markdownDescription"] = _markdown(description)
    return out


def _properties(
    model: type[BaseModel], defaults: BaseModel, schema: dict[str, Any], path: str
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    props = schema["properties"]
    for name, field in model.model_fields.items():
        alias = field.alias or name
        key = path + alias
        value = getattr(defaults, name)
        sub = _section(field)
        if sub is not None and isinstance(value, BaseModel):
            out.update(_properties(sub, value, schema["$defs"][sub.__name__], key + "."))
            continue
        description = field.description
        default = defaults.model_dump(mode="json", by_alias=True, include={name})[alias]
        out[key] = _leaf(props[alias], default, description)
        out[key].update(OVERRIDES.get(key, {}))
    return out


def _section(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def configuration() -> dict[str, Any]:
    """The ``contributes.configuration`` object of package.json."""
    schema = Settings.model_json_schema(by_alias=True)
    # model_construct skips the environment (which may hold a key or VIVAVOCE_* overrides):
    # the model's own defaults, default factories included.
    defaults = Settings.model_construct()
    server = _properties(Settings, defaults, schema, "")
    clash = {k.split(".")[0] for k in CLIENT_ONLY} & {k.split(".")[0] for k in server}
    if clash:
        raise SystemExit(f"client-only settings clash with server settings: {sorted(clash)}")
    keys = {**server, **CLIENT_ONLY}
    properties = {}
    for order, (key, prop) in enumerate(keys.items()):
        properties[PREFIX + key] = {**prop, "order": order}
    return {"title": "vivavoce", "properties": properties}


def render(package: dict[str, Any]) -> str:
    return json.dumps(package, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="update clients/vscode/package.json")
    group.add_argument("--check", action="store_true", help="exit 1 if package.json is stale")
    args = parser.parse_args(argv)
    config = configuration()
    if not (args.write or args.check):
        sys.stdout.write(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
        return 0
    package = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))
    if args.check:
        if package["contributes"].get("configuration") != config:
            sys.stderr.write(
                f"{PACKAGE_JSON} is stale: run python scripts/vscode_settings_schema.py --write\n"
            )
            return 1
        return 0
    package["contributes"]["configuration"] = config
    PACKAGE_JSON.write_text(render(package), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
