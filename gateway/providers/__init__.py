"""Providers: one module per vendor (URL, headers, the httpx call), each delegating to its translators."""
