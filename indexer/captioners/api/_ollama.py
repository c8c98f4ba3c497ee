"""``ollama``: a local or remote Ollama server through its native /api/chat."""

from __future__ import annotations

from typing import Any, ClassVar

from ._common import APICaptioner, APIRequestError, Reply, b64, env, host_of, retrying

OLLAMA_URL = "http://localhost:11434"


class OllamaCaptioner(APICaptioner):
    """``ollama:MODEL`` (e.g. ``ollama:llava:13b``); server ``base_url`` / ``OLLAMA_HOST``. No key needed
    (the client sends ``OLLAMA_API_KEY`` itself where one is set)."""

    name: ClassVar[str] = "ollama"
    module: ClassVar[str] = "ollama"
    package: ClassVar[str] = "ollama"
    default_model: ClassVar[str] = "llava"

    def _connect(self, *, base_url: str | None, api_key: str | None) -> str:
        url = (base_url or env("OLLAMA_HOST") or OLLAMA_URL).rstrip("/")
        if "://" not in url:
            url = f"http://{url}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        self._client = self._lib.Client(host=url, timeout=self.timeout, headers=headers)
        return url

    def _retryable(self, exc: Exception) -> bool:
        # The ollama client has no retries of its own.
        import httpx

        if isinstance(exc, self._lib.ResponseError):
            return exc.status_code == 429 or exc.status_code >= 500
        return isinstance(exc, httpx.TimeoutException | httpx.RemoteProtocolError | httpx.ReadError)

    def _complete(self, jpeg: bytes, prompt: str, max_tokens: int) -> Reply:
        import httpx

        message = {"role": "user", "content": prompt, "images": [b64(jpeg)]}

        def call() -> Any:
            return self._client.chat(
                model=self.model, messages=[message], stream=False, options={"num_predict": max_tokens}
            )

        try:
            response = retrying(
                call, attempts=self.max_retries + 1, first_delay=self.retry_delay, retryable=self._retryable
            )
        except self._lib.ResponseError as exc:
            raise APIRequestError(f"ollama error {exc.status_code}: {exc.error}", status=exc.status_code) from exc
        except ConnectionError as exc:
            raise APIRequestError(
                f"cannot reach Ollama at {host_of(self.base_url)}; is it running (ollama serve)?"
            ) from exc
        except httpx.HTTPError as exc:
            raise APIRequestError(f"ollama request to {host_of(self.base_url)} failed: {exc}") from exc
        return Reply(
            response.message.content or "",
            truncated=response.done_reason == "length",
            input_tokens=response.prompt_eval_count,
            output_tokens=response.eval_count,
        )
