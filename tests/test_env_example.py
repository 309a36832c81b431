"""env.example lists every setting (CONTRACT §1: `cp env.example .env` is the documented way to configure)."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_env_example_lists_every_setting() -> None:
    text = (ROOT / "env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", text, re.M))
    expected = {f.name.upper() for f in fields(Settings) if f.name not in ("config", "demo", "deployments")}
    assert sorted(expected - listed) == []


def test_env_example_values_parse_as_a_valid_configuration() -> None:
    values = dict(re.findall(r"^([A-Z_][A-Z0-9_]*)=(.*)$", (ROOT / "env.example").read_text(encoding="utf-8"), re.M))
    values["JWT_SECRET"] = "x" * 40
    Settings.from_env(values)
