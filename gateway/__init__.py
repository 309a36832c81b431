"""llm-gateway: an OpenAI-compatible gateway in front of OpenAI, Anthropic and Gemini."""

__version__ = "0.1.0"
