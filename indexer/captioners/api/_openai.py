"""``openai``: the Chat Completions API of OpenAI or any OpenAI-compatible server (vLLM, LM Studio, llama.cpp)."""

from __future__ import annotations

from typing import ClassVar

from ...captioning import CaptionerUnavailable
from ._common import APICaptioner, APIRequestError, Reply, b64, env, host_of, provider_message

OPENAI_URL = "https://api.openai.com/v1"


class OpenAICaptioner(APICaptioner):
    """``openai:MODEL``. The server is ``base_url`` / ``OPENAI_BASE_URL`` (default OpenAI itself), the key
    ``api_key`` / ``OPENAI_API_KEY``; a server other than OpenAI's may go without a key."""

    name: ClassVar[str] = "openai"
    module: ClassVar[str] = "openai"
    package: ClassVar[str] = "openai"
    default_model: ClassVar[str] = "gpt-4o-mini"

    def _connect(self, *, base_url: str | None, api_key: str | None) -> str:
        url = (base_url or env("OPENAI_BASE_URL") or OPENAI_URL).rstrip("/")
        official = host_of(url) == "api.openai.com"
        key = api_key or env("OPENAI_API_KEY")
        if not key:
            if official:
                raise CaptionerUnavailable(
                    "the openai captioner needs an API key: set OPENAI_API_KEY "
                    "(or OPENAI_BASE_URL to use a local OpenAI-compatible server that needs none)"
                )
            key = "none"  # local servers ignore it, but the client insists on one
        # OpenAI's own API deprecated max_tokens (reasoning models reject it);
        # compatible servers do not all know its replacement yet.
        self._limit_param = "max_completion_tokens" if official else "max_tokens"
        self._client = self._lib.OpenAI(api_key=key, base_url=url, timeout=self.timeout, max_retries=self.max_retries)
        return url

    def _complete(self, jpeg: bytes, prompt: str, max_tokens: int) -> Reply:
        lib = self._lib
        content = [
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{b64(jpeg)}"}},
            {"type": "text", "text": prompt},
        ]
        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": content}],
                **{self._limit_param: max_tokens},
            )
        except lib.APIStatusError as exc:
            message = provider_message(exc.body, exc.message)
            raise APIRequestError(f"openai API error {exc.status_code}: {message}", status=exc.status_code) from exc
        except lib.APIConnectionError as exc:  # timeouts included, after the client's retries
            raise APIRequestError(f"openai request to {host_of(self.base_url)} failed: {exc}") from exc
        if not response.choices:
            raise APIRequestError(f"openai model {self.model!r} returned no choices")
        choice = response.choices[0]
        usage = response.usage
        return Reply(
            choice.message.content or "",
            truncated=choice.finish_reason == "length",
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
        )
