"""Pure ASGI middleware, one concern per file (STYLE §1.1)."""
