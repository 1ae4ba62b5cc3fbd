"""Backend of kind ``anthropic``: Anthropic's Messages API (``POST {url}/messages``).

The adapter speaks only the native Messages wire format; requests from the OpenAI surface are
translated by ``upstream/translate.py`` before they get here (see ``api/proxy.py``). It shares the
transport, the error translation and the streaming with ``OpenAICompatBackend``; what differs is
authentication and health (protocol.md §6):

- the key goes in ``x-api-key`` (every SDK version accepts it; 2.x also sends Bearer) with the
  ``anthropic-version`` header, pinned to ``2023-06-01``, the version the wire format here follows;
- Anthropic has no ``/health``: ``GET {url}/models`` answering 200 means healthy.
"""

from __future__ import annotations

import httpx

from privacy_router.upstream.openai_compat import USER_AGENT, OpenAICompatBackend

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicBackend(OpenAICompatBackend):
    kind = "anthropic"

    def _headers(self, request_id: str | None) -> dict[str, str]:
        # Built from nothing, as in the OpenAI adapter: no client header is ever copied.
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            "User-Agent": USER_AGENT,
            "anthropic-version": ANTHROPIC_VERSION,
        }
        key = self.settings.api_key()
        if key:
            headers["x-api-key"] = key
        return headers

    async def health(self) -> bool:
        try:
            response = await self._client.get(
                self._base + "/models", headers=self._headers(None), timeout=self._health_timeout
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200
