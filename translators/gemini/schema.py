"""JSON Schema -> what Gemini accepts (wire-formats §6.5, trap 22).

Gemini's `parameters` and `responseSchema` take an OpenAPI-3.0 *subset* `Schema`: no `$ref`, no
`additionalProperties`, no type arrays, string-only `enum`, a few `format`s. `clean_schema` rewrites a
caller's JSON Schema into that subset: `$ref`s are inlined, `["string","null"]` becomes `nullable`, `const`
becomes a one-value `enum`, unsupported keywords are removed. A recursive schema cannot be inlined, so it
raises `RecursiveSchemaError` and the request builder sends it as `responseJsonSchema`/`parametersJsonSchema`
after `clean_json_schema` (which keeps `$ref`/`$defs` and drops only what that field rejects).

https://ai.google.dev/api/caching#Schema , https://ai.google.dev/api/generate-content#generationconfig
"""

from __future__ import annotations

from typing import Any

from translators.errors import TranslationError

JSON = dict[str, Any]

# Keywords of Gemini's OpenAPI-subset `Schema` (python-genai `types.Schema`), the only ones `clean_schema` emits.
SCHEMA_KEYWORDS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "items",
        "properties",
        "required",
        "anyOf",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "minProperties",
        "maxProperties",
        "pattern",
        "default",
        "example",
        "propertyOrdering",
    }
)
SCHEMA_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
SUPPORTED_FORMATS = frozenset({"enum", "date-time", "float", "double", "int32", "int64"})
_COPIED = ("title", "description", "pattern", "default", "example")
_NUMERIC = ("minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum", "minProperties", "maxProperties")
MAX_NODES = 5000  # inlining `$ref`s can multiply a schema; past this it is refused rather than sent

# `responseJsonSchema` / `parametersJsonSchema`: the JSON Schema keywords Gemini documents as supported.
JSON_SCHEMA_KEYWORDS = frozenset(
    {
        "$id",
        "$defs",
        "$ref",
        "$anchor",
        "type",
        "format",
        "title",
        "description",
        "enum",
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "anyOf",
        "oneOf",
        "properties",
        "additionalProperties",
        "required",
        "propertyOrdering",
    }
)


class RecursiveSchemaError(TranslationError):
    """The schema refers to itself; it can only be sent as JSON Schema (`*JsonSchema` fields)."""


def clean_schema(schema: Any, *, param: str) -> JSON:
    """A caller's JSON Schema -> Gemini's OpenAPI-subset `Schema`. Raises `TranslationError` naming `param`."""
    if not isinstance(schema, dict):
        raise TranslationError("The schema must be a JSON object.", param=param)
    defs: JSON = {}
    for key in ("definitions", "$defs"):
        table = schema.get(key)
        if isinstance(table, dict):
            defs.update(table)
    return _Cleaner(defs, param).clean(schema, ())


class _Cleaner:
    __slots__ = ("_defs", "_nodes", "_param")

    def __init__(self, defs: JSON, param: str) -> None:
        self._defs = defs
        self._param = param
        self._nodes = 0

    def clean(self, node: Any, refs: tuple[str, ...]) -> JSON:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise TranslationError("The schema is too large once its $refs are inlined.", param=self._param)
        if not isinstance(node, dict):
            return {}  # `true` / `{}`: any value
        if "$ref" in node:
            node, refs = self._resolve(node, refs)
        if isinstance(node.get("allOf"), list):
            node = _merge_all_of(node)
        out: JSON = {}
        nullable = False
        kind = node.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if isinstance(k, str)]
            nullable = "null" in kinds
            kinds = [k for k in kinds if k != "null"]
            if len(kinds) == 1:
                kind = kinds[0]
            else:
                kind = None
                if len(kinds) > 1:
                    out["anyOf"] = [self.clean({**node, "type": k}, refs) for k in kinds]
        if kind == "null":
            nullable, kind = True, None
        if isinstance(kind, str) and kind.lower() in SCHEMA_TYPES and "anyOf" not in out:
            out["type"] = kind.lower()
        branches = node.get("anyOf") if isinstance(node.get("anyOf"), list) else node.get("oneOf")
        if isinstance(branches, list) and "anyOf" not in out:
            cleaned = []
            for branch in branches:
                if isinstance(branch, dict) and branch.get("type") == "null" and len(branch) == 1:
                    nullable = True
                    continue
                cleaned.append(self.clean(branch, refs))
            if len(cleaned) == 1:
                for key, value in cleaned[0].items():
                    out.setdefault(key, value)
            elif cleaned:
                out["anyOf"] = cleaned
        for key in _COPIED:
            value = node.get(key)
            if value is not None and (key in ("default", "example") or isinstance(value, str)):
                out[key] = value
        for key in _NUMERIC:
            value = node.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[key] = value
        fmt = node.get("format")
        if isinstance(fmt, str) and fmt in SUPPORTED_FORMATS:
            out["format"] = fmt
        values = [node["const"]] if "const" in node else node.get("enum")
        if isinstance(values, list) and values:
            nullable = nullable or None in values
            values = [v for v in values if v is not None]
            if values and all(isinstance(v, str) for v in values):
                out["enum"] = values
                out.setdefault("type", "string")
            elif values:  # Gemini's enum is string-only: keep the type, say the allowed values in words
                allowed = "Allowed values: " + ", ".join(_literal(v) for v in values) + "."
                out["description"] = f"{out['description']} {allowed}" if out.get("description") else allowed
        properties = node.get("properties")
        if isinstance(properties, dict) and properties:
            out["properties"] = {str(name): self.clean(sub, refs) for name, sub in properties.items()}
            required = node.get("required")
            if isinstance(required, list):
                kept = [r for r in required if isinstance(r, str) and r in properties]
                if kept:
                    out["required"] = kept
            ordering = node.get("propertyOrdering")
            if isinstance(ordering, list) and all(isinstance(p, str) and p in properties for p in ordering):
                out["propertyOrdering"] = ordering
            elif len(properties) > 1:  # Gemini orders properties alphabetically unless told; keep the caller's
                out["propertyOrdering"] = list(out["properties"])
            out.setdefault("type", "object")
        items = node.get("items")
        if isinstance(items, dict):
            out["items"] = self.clean(items, refs)
        elif isinstance(items, list) and items:
            cleaned_items = [self.clean(i, refs) for i in items]
            out["items"] = cleaned_items[0] if len(cleaned_items) == 1 else {"anyOf": cleaned_items}
        if out.get("type") == "array" and "items" not in out:
            out["items"] = {}
        if nullable:
            out["nullable"] = True
        return out

    def _resolve(self, node: JSON, refs: tuple[str, ...]) -> tuple[JSON, tuple[str, ...]]:
        ref = node.get("$ref")
        if not isinstance(ref, str):
            raise TranslationError("`$ref` must be a string.", param=self._param)
        if ref == "#":
            raise RecursiveSchemaError("The schema refers to itself.", param=self._param)
        for prefix in ("#/$defs/", "#/definitions/"):
            if ref.startswith(prefix):
                name = ref[len(prefix) :].replace("~1", "/").replace("~0", "~")
                break
        else:
            raise TranslationError(f"Cannot resolve `$ref` {ref!r}: only local #/$defs refs.", param=self._param)
        if name in refs:
            raise RecursiveSchemaError(f"The schema is recursive through {ref!r}.", param=self._param)
        target = self._defs.get(name)
        if not isinstance(target, dict):
            raise TranslationError(f"Cannot resolve `$ref` {ref!r}.", param=self._param)
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return {**target, **siblings}, (*refs, name)


def _merge_all_of(node: JSON) -> JSON:
    """`allOf` of object-ish schemas -> one schema (properties and required united; first value wins)."""
    merged: JSON = {k: v for k, v in node.items() if k != "allOf"}
    properties: JSON = dict(merged.get("properties") or {})
    required: list[Any] = list(merged.get("required") or [])
    for part in node["allOf"]:
        if not isinstance(part, dict):
            continue
        properties.update(part.get("properties") or {})
        required.extend(r for r in part.get("required") or [] if r not in required)
        for key, value in part.items():
            if key not in ("properties", "required"):
                merged.setdefault(key, value)
    if properties:
        merged["properties"] = properties
    if required:
        merged["required"] = required
    return merged


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def clean_json_schema(schema: Any, *, param: str) -> JSON:
    """A caller's JSON Schema -> the subset `responseJsonSchema`/`parametersJsonSchema` accept: `$ref` and `$defs`
    kept (so recursion works), `definitions` moved to `$defs`, `const` -> `enum`, other keywords dropped."""
    if not isinstance(schema, dict):
        raise TranslationError("The schema must be a JSON object.", param=param)
    cleaned: JSON = _json_schema(schema)
    return cleaned


def _json_schema(node: Any) -> Any:
    if isinstance(node, bool):
        return node
    if not isinstance(node, dict):
        return {}
    out: JSON = {}
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            target = "$defs" if key == "definitions" else key
            out.setdefault(target, {}).update({str(k): _json_schema(v) for k, v in value.items()})
        elif key in ("anyOf", "oneOf", "prefixItems") and isinstance(value, list):
            out[key] = [_json_schema(v) for v in value]
        elif key in ("items", "additionalProperties"):
            out[key] = _json_schema(value) if isinstance(value, dict | bool) else value
        elif key == "$ref" and isinstance(value, str):
            out[key] = value.replace("#/definitions/", "#/$defs/", 1)
        elif key == "const":
            out["enum"] = [value]
        elif key in JSON_SCHEMA_KEYWORDS:
            out[key] = value
    return out
