"""Anthropic Messages API behind the OpenAI API: request, response, stream and error translators (pure).

Same module and function names as every vendor folder (`build_request`, `parse_response`, `StreamTranslator`,
`parse_error`), so the provider registry is data. Reference: wire-formats.md §4, §6.1-6.2, §6.6-6.10, §6.12.
"""
