"""OpenAI: the near-passthrough vendor. The caller already speaks this format; only the model id changes and
gateway-only fields are removed. Same module names as every vendor folder: request, response, stream, errors."""
