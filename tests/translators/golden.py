"""What every vendor's golden-fixture helpers share: read a case's files, and compare the translators' output with
the expected file, or rewrite that file with `UPDATE_GOLDENS=1` (reviewers read the diff)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

JSON = dict[str, Any]
UPDATE = os.environ.get("UPDATE_GOLDENS") == "1"


class Fixtures:
    """The case folders of one vendor (tests/fixtures/<vendor>/<case>/)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def load(self, case: str, name: str) -> Any:
        return json.loads((self.root / case / name).read_text(encoding="utf-8"))

    def raw(self, case: str, name: str) -> bytes:
        return (self.root / case / name).read_bytes()

    def check(self, case: str, name: str, actual: Any) -> None:
        path = self.root / case / name
        if UPDATE:
            path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            return
        assert actual == json.loads(path.read_text(encoding="utf-8"))

    def check_lines(self, case: str, name: str, actual: list[JSON]) -> None:
        path = self.root / case / name
        if UPDATE:
            path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in actual), encoding="utf-8")
            return
        lines = path.read_text(encoding="utf-8").splitlines()
        assert actual == [json.loads(line) for line in lines if line]
