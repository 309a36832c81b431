"""JSON Schema cleaning for Gemini's OpenAPI-subset Schema (wire-formats §6.5)."""

from __future__ import annotations

from typing import Any

import pytest

from translators.errors import TranslationError
from translators.gemini.schema import SCHEMA_KEYWORDS, RecursiveSchemaError, clean_json_schema, clean_schema

JSON = dict[str, Any]


def keywords(schema: Any) -> set[str]:
    """Every keyword used anywhere in a cleaned schema (property names are not keywords)."""
    if not isinstance(schema, dict):
        return set()
    found = set(schema)
    for key, value in schema.items():
        if key == "properties":
            for sub in value.values():
                found |= keywords(sub)
        elif key == "items":
            found |= keywords(value)
        elif key == "anyOf":
            for sub in value:
                found |= keywords(sub)
    return found


def clean(schema: JSON) -> JSON:
    return clean_schema(schema, param="p")


def test_clean_schema_removes_unsupported_keywords() -> None:
    schema = {
        "$schema": "x",
        "$id": "y",
        "type": "object",
        "additionalProperties": False,
        "strict": True,
        "examples": [{}],
        "properties": {"a": {"type": "string", "format": "email", "examples": ["e"], "minLength": 1}},
    }
    assert clean(schema) == {"type": "object", "properties": {"a": {"type": "string", "minLength": 1}}}


def test_clean_schema_inlines_refs_from_defs_and_definitions() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A"}, "b": {"$ref": "#/definitions/B", "description": "bee"}},
        "$defs": {"A": {"type": "integer"}},
        "definitions": {"B": {"type": "boolean"}},
    }
    cleaned = clean(schema)
    assert cleaned["properties"] == {"a": {"type": "integer"}, "b": {"type": "boolean", "description": "bee"}}
    assert "$defs" not in cleaned


def test_clean_schema_recursive_ref_raises_recursive() -> None:
    schema = {"$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}}, "$ref": "#/$defs/N"}
    with pytest.raises(RecursiveSchemaError):
        clean(schema)


def test_clean_schema_unknown_ref_names_the_param() -> None:
    with pytest.raises(TranslationError) as info:
        clean({"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}})
    assert info.value.param == "p"


def test_clean_schema_type_array_with_null_becomes_nullable() -> None:
    assert clean({"type": ["string", "null"]}) == {"type": "string", "nullable": True}


def test_clean_schema_type_array_of_several_becomes_any_of() -> None:
    assert clean({"type": ["string", "integer"]}) == {"anyOf": [{"type": "string"}, {"type": "integer"}]}


def test_clean_schema_any_of_with_null_branch_becomes_nullable() -> None:
    assert clean({"anyOf": [{"type": "number"}, {"type": "null"}]}) == {"type": "number", "nullable": True}


def test_clean_schema_const_becomes_string_enum() -> None:
    assert clean({"const": "x"}) == {"type": "string", "enum": ["x"]}


def test_clean_schema_non_string_enum_is_described_not_sent() -> None:
    assert clean({"type": "integer", "enum": [1, 2], "description": "Level."}) == {
        "type": "integer",
        "description": "Level. Allowed values: 1, 2.",
    }


def test_clean_schema_all_of_is_merged() -> None:
    schema = {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "number"}}, "required": ["b"]},
        ]
    }
    assert clean(schema) == {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "number"}},
        "required": ["a", "b"],
        "propertyOrdering": ["a", "b"],
    }


def test_clean_schema_keeps_the_callers_property_order() -> None:
    cleaned = clean({"type": "object", "properties": {"z": {"type": "string"}, "a": {"type": "string"}}})
    assert cleaned["propertyOrdering"] == ["z", "a"]


def test_clean_schema_required_names_only_existing_properties() -> None:
    cleaned = clean({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "ghost"]})
    assert cleaned["required"] == ["a"]


def test_clean_schema_output_uses_only_gemini_keywords() -> None:
    schema = {
        "type": "object",
        "properties": {
            "x": {
                "type": ["array", "null"],
                "items": {"oneOf": [{"type": "string"}, {"const": 3}]},
                "uniqueItems": True,
            },
            "y": {"not": {"type": "string"}, "exclusiveMinimum": 3, "multipleOf": 2},
        },
        "patternProperties": {"^a": {}},
        "if": {},
        "then": {},
        "dependentRequired": {},
    }
    assert keywords(clean(schema)) <= SCHEMA_KEYWORDS


def test_clean_schema_refuses_a_schema_that_explodes() -> None:
    defs = {
        f"L{i}": {
            "type": "object",
            "properties": {"a": {"$ref": f"#/$defs/L{i + 1}"}, "b": {"$ref": f"#/$defs/L{i + 1}"}},
        }
        for i in range(20)
    }
    defs["L20"] = {"type": "string"}
    with pytest.raises(TranslationError, match="too large"):
        clean({"$defs": defs, "$ref": "#/$defs/L0"})


def test_clean_json_schema_keeps_refs_and_moves_definitions() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"$ref": "#/definitions/N"}},
        "definitions": {"N": {"const": 1}},
        "strict": True,
    }
    assert clean_json_schema(schema, param="p") == {
        "type": "object",
        "properties": {"n": {"$ref": "#/$defs/N"}},
        "$defs": {"N": {"enum": [1]}},
    }
