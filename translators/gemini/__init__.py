"""Google Gemini (generativelanguage v1beta) <-> OpenAI. Same module names as every vendor folder:
request, response, stream, errors, plus schema (JSON-schema cleaning) and embeddings. Pure: no I/O, no clock,
no random ids; tool-call ids (Gemini has none) are passed in by the caller."""
