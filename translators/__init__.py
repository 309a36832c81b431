"""Pure OpenAI <-> vendor wire-format translation.

Nothing in this package does I/O, reads the clock, or generates random ids: dicts in, dicts out,
and streams as small state machines fed one event at a time. Ids and timestamps are passed in.
It never imports `gateway`.
"""
