"""API captioner backends: hosted or served vision-language models over HTTP.

- ``openai``: the openai package; any OpenAI-compatible server (OpenAI,
  vLLM, LM Studio, llama.cpp server). OPENAI_BASE_URL (default OpenAI),
  OPENAI_API_KEY (needed only for OpenAI itself).
- ``ollama``: the ollama package; Ollama's /api/chat. OLLAMA_HOST (default
  http://localhost:11434); no key.
- ``anthropic``: the anthropic package; the Messages API.
  ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY.
- ``gemini``: the google-genai package. GEMINI_BASE_URL (a proxy; default
  Google's), GEMINI_API_KEY or GOOGLE_API_KEY.

All four client libraries come with ``pip install 'picscribe[api]'``.

Select one as ``--captioner openai:gpt-4o-mini``, ``ollama:llava:13b``, ...
Options (constructor keywords): ``max_new_tokens``, ``concurrency``
(requests in flight per batch, default 4), ``max_side`` (longest image side
sent, default 1024), ``timeout``, ``max_retries``, ``retry_delay``,
``base_url``, ``api_key``, ``max_requests`` and ``max_tokens`` (budgets),
``max_consecutive_failures``; from config.toml they arrive as
``CaptionerOptions``. The prompts and output cleaning are shared with the
local ``vlm`` backend (``captioners._prompts``, ``captioners._cleaning``).

A request that fails after the retries is that image's failure
(``APIRequestError`` with the provider's message); the others in the batch
go on and come back in a ``PartialBatch``, so the pipeline never pays for an
image twice. A refused key, an unknown model, a spent budget or a run of
failures raise ``CaptionerStopped``, and the pipeline ends the run cleanly.
``usage`` reports requests and tokens.
"""

from ._anthropic import AnthropicCaptioner
from ._common import APICaptioner, APIRequestError
from ._gemini import GeminiCaptioner
from ._ollama import OllamaCaptioner
from ._openai import OpenAICaptioner

__all__ = [
    "APICaptioner",
    "APIRequestError",
    "AnthropicCaptioner",
    "GeminiCaptioner",
    "OllamaCaptioner",
    "OpenAICaptioner",
]
