"""Import rules (STYLE §3): translators are pure and never import the gateway; only settings and the entry point
read the environment."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_TRANSLATORS = {
    "gateway",
    "httpx",
    "redis",
    "starlette",
    "prometheus_client",
    "os",
    "time",
    "uuid",
    "random",
    "socket",
    "asyncio",
    "aiohttp",
    "secrets",
}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_translators_are_pure() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imports(path) & FORBIDDEN_IN_TRANSLATORS)
        for path in (ROOT / "translators").rglob("*.py")
        if imports(path) & FORBIDDEN_IN_TRANSLATORS
    }
    assert offenders == {}


def test_only_settings_and_main_read_the_environment() -> None:
    allowed = {"gateway/settings.py", "gateway/__main__.py"}
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "gateway").rglob("*.py")
        if "os.environ" in path.read_text(encoding="utf-8") or "getenv(" in path.read_text(encoding="utf-8")
    ]
    assert sorted(set(offenders) - allowed) == []
