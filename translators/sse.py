"""Server-sent events: an incremental decoder and the encoder for OpenAI-style frames.

`SSEDecoder.feed(bytes)` accepts network chunks of any size (a UTF-8 character or a CRLF pair may be
split across chunks) and returns the complete events seen so far; `flush()` ends the stream. It follows
the WHATWG event-stream rules: `data:` lines joined with "\\n", `event:`, `id:`, `retry:`, comments
(lines starting with ":") ignored, one optional space after the colon removed, and CR, LF or CRLF as
line ends. Data is kept as bytes so that a pass-through never decodes and re-encodes it.
"""

from __future__ import annotations

from typing import NamedTuple

DONE_FRAME = b"data: [DONE]\n\n"


class SSEEvent(NamedTuple):
    """One dispatched event. `data` is the joined data lines as raw UTF-8 bytes. A named tuple: made once per
    event of every stream, and cheaper to build than a frozen dataclass."""

    data: bytes
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """bytes in, `SSEEvent`s out. Holds only the unfinished line and the event being built."""

    __slots__ = ("_buffer", "_data", "_event", "_id", "_retry", "_skip_lf")

    def __init__(self) -> None:
        self._buffer = b""
        self._skip_lf = False  # the previous chunk ended in CR: a leading LF belongs to it
        self._data: list[bytes] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._skip_lf = False
        if not chunk:
            return []
        buffer = self._buffer + chunk if self._buffer else chunk
        if buffer[-1:] != b"\r":  # a final CR may be half of a CRLF split across reads: the general path below
            if b"\r" in buffer:
                buffer = buffer.replace(b"\r\n", b"\n")  # Gemini's framing; the same lines, LF-terminated
            if b"\r" not in buffer:
                return self._lf_lines(buffer)
        events: list[SSEEvent] = []
        start = 0
        length = len(buffer)
        while start < length:
            lf = buffer.find(b"\n", start)
            cr = buffer.find(b"\r", start, lf if lf >= 0 else length)
            if cr >= 0:
                end, nxt = cr, cr + 1
                if nxt < length and buffer[nxt : nxt + 1] == b"\n":
                    nxt += 1
                elif nxt == length:
                    self._skip_lf = True
            elif lf >= 0:
                end, nxt = lf, lf + 1
            else:
                break
            event = self._line(buffer[start:end])
            if event is not None:
                events.append(event)
            start = nxt
        self._buffer = buffer[start:]
        return events

    def _lf_lines(self, buffer: bytes) -> list[SSEEvent]:
        """`feed` for the usual case, LF line ends only: one split, and `data:` lines handled inline (a stream is
        almost all `data:` lines, and this runs for every event of every stream)."""
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()  # the unfinished last line (b"" when the buffer ended with LF)
        events: list[SSEEvent] = []
        for line in lines:
            if line[:6] == b"data: ":
                self._data.append(line[6:])
            elif line:
                self._line(line)
            else:
                event = self._dispatch()
                if event is not None:
                    events.append(event)
        return events

    def flush(self) -> list[SSEEvent]:
        """End of stream: a last line without its newline still counts; an unterminated event does not
        dispatch per the spec, but vendors (Gemini) sometimes omit the final blank line, so we dispatch it."""
        events: list[SSEEvent] = []
        if self._buffer:
            event = self._line(self._buffer)
            self._buffer = b""
            if event is not None:
                events.append(event)
        event = self._line(b"")
        if event is not None:
            events.append(event)
        return events

    def _line(self, line: bytes) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line[:1] == b":":
            return None
        colon = line.find(b":")
        if colon < 0:
            name, value = line, b""
        else:
            name, value = line[:colon], line[colon + 1 :]
            if value[:1] == b" ":
                value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self._id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:  # the spec: an event with no data lines is not dispatched
            self._event = None
            return None
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        event = SSEEvent(data=data, event=self._event or "message", id=self._id, retry=self._retry)
        self._data = []
        self._event = None
        self._retry = None  # `retry` is reported on the event that carried it; `id` persists (the spec)
        return event


def encode_data(payload: bytes) -> bytes:
    """One OpenAI-style frame: a single `data:` line and a blank line. `payload` is compact JSON."""
    return b"data: " + payload + b"\n\n"
