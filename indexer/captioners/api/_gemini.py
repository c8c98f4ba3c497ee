"""``gemini``: Google's Gemini API through the google-genai client."""

from __future__ import annotations

from typing import ClassVar

from ...captioning import CaptionerUnavailable
from ._common import APICaptioner, APIRequestError, Reply, env, host_of

GEMINI_URL = "https://generativelanguage.googleapis.com"


class GeminiCaptioner(APICaptioner):
    """``gemini:MODEL``; key ``api_key`` / ``GEMINI_API_KEY`` / ``GOOGLE_API_KEY``, server ``base_url`` /
    ``GEMINI_BASE_URL`` (a proxy or a test server; default Google's)."""

    name: ClassVar[str] = "gemini"
    module: ClassVar[str] = "google.genai"
    package: ClassVar[str] = "google-genai"
    default_model: ClassVar[str] = "gemini-2.5-flash"

    def _connect(self, *, base_url: str | None, api_key: str | None) -> str:
        url = (base_url or env("GEMINI_BASE_URL") or GEMINI_URL).rstrip("/")
        key = api_key or env("GEMINI_API_KEY", "GOOGLE_API_KEY")
        if not key:
            raise CaptionerUnavailable("the gemini captioner needs an API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)")
        types = self._types = self._lib.types
        self._errors = self._lib.errors
        retry = types.HttpRetryOptions(
            attempts=self.max_retries + 1,
            initial_delay=self.retry_delay,
            max_delay=30.0,
            jitter=self.retry_delay / 2,
        )
        options = types.HttpOptions(
            base_url=url if url != GEMINI_URL else None, timeout=int(self.timeout * 1000), retry_options=retry
        )
        # vertexai=False: a GOOGLE_GENAI_USE_VERTEXAI in the environment must not redirect the key elsewhere.
        self._client = self._lib.Client(vertexai=False, api_key=key, http_options=options)
        return url

    def _complete(self, jpeg: bytes, prompt: str, max_tokens: int) -> Reply:
        types = self._types
        try:
            response = self._client.models.generate_content(
                model=self.model,
                contents=[types.Part.from_bytes(data=jpeg, mime_type="image/jpeg"), prompt],
                config=types.GenerateContentConfig(max_output_tokens=max_tokens),
            )
        except self._errors.APIError as exc:
            message = exc.message or exc.status or str(exc)
            raise APIRequestError(f"gemini API error {exc.code}: {message}", status=exc.code) from exc
        except Exception as exc:  # httpx (or httpx2) transport errors, after the client's retries
            raise APIRequestError(f"gemini request to {host_of(self.base_url)} failed: {exc}") from exc
        if not response.candidates:
            feedback = response.prompt_feedback
            reason = feedback.block_reason if feedback and feedback.block_reason else "no candidates"
            raise APIRequestError(f"gemini model {self.model!r} returned no answer: {reason}")
        candidate = response.candidates[0]
        parts = candidate.content.parts if candidate.content and candidate.content.parts else []
        text = "".join(part.text for part in parts if part.text and not part.thought)
        usage = response.usage_metadata
        return Reply(
            text,
            truncated=candidate.finish_reason == types.FinishReason.MAX_TOKENS,
            input_tokens=usage.prompt_token_count if usage else None,
            output_tokens=usage.candidates_token_count if usage else None,
        )
