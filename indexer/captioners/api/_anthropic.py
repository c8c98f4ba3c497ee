"""``anthropic``: Claude through the Messages API."""

from __future__ import annotations

from typing import ClassVar

from ...captioning import CaptionerUnavailable
from ._common import APICaptioner, APIRequestError, Reply, b64, env, host_of, provider_message

ANTHROPIC_URL = "https://api.anthropic.com"


class AnthropicCaptioner(APICaptioner):
    """``anthropic:MODEL``; key ``api_key`` / ``ANTHROPIC_API_KEY``, server ``base_url`` / ``ANTHROPIC_BASE_URL``."""

    name: ClassVar[str] = "anthropic"
    module: ClassVar[str] = "anthropic"
    package: ClassVar[str] = "anthropic"
    default_model: ClassVar[str] = "claude-haiku-4-5"

    def _connect(self, *, base_url: str | None, api_key: str | None) -> str:
        url = (base_url or env("ANTHROPIC_BASE_URL") or ANTHROPIC_URL).rstrip("/")
        key = api_key or env("ANTHROPIC_API_KEY")
        if not key:
            raise CaptionerUnavailable("the anthropic captioner needs an API key: set ANTHROPIC_API_KEY")
        self._client = self._lib.Anthropic(
            api_key=key, base_url=url, timeout=self.timeout, max_retries=self.max_retries
        )
        return url

    def _complete(self, jpeg: bytes, prompt: str, max_tokens: int) -> Reply:
        lib = self._lib
        content = [
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": b64(jpeg)}},
            {"type": "text", "text": prompt},
        ]
        try:
            response = self._client.messages.create(
                model=self.model, max_tokens=max_tokens, messages=[{"role": "user", "content": content}]
            )
        except lib.APIStatusError as exc:
            message = provider_message(exc.body, exc.message)
            raise APIRequestError(f"anthropic API error {exc.status_code}: {message}", status=exc.status_code) from exc
        except lib.APIConnectionError as exc:
            raise APIRequestError(f"anthropic request to {host_of(self.base_url)} failed: {exc}") from exc
        text = "".join(block.text for block in response.content if getattr(block, "type", None) == "text")
        usage = response.usage
        return Reply(
            text,
            truncated=response.stop_reason == "max_tokens",
            input_tokens=usage.input_tokens if usage else None,
            output_tokens=usage.output_tokens if usage else None,
        )
