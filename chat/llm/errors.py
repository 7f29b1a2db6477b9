"""How a provider failed, so the chain can decide between retry, fallback and giving up."""

from __future__ import annotations

import email.utils
import time

from chat.llm.base import LLMError


class ProviderError(LLMError):
    """One provider could not answer.

    transient: another try or another provider may succeed (network, timeout, 429/5xx, bad stream);
    otherwise the request itself is wrong (400/401/403/404) and is reported without fallback.
    retryable: worth retrying on this same provider (False for a skipped, circuit-open provider).
    quote: a piece of the stream that shows the fault; it may hold reply text or tool arguments, so it is
    shown to the person but logged only with LOG_MESSAGE_TEXT (`loggable`).
    """

    def __init__(
        self,
        message: str,
        *,
        quote: str = "",
        transient: bool = True,
        retryable: bool | None = None,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(f"{message}: {quote}" if quote else message)
        self.withheld = f"{message}: (data withheld)" if quote else self.message
        self.transient = transient
        self.retryable = transient if retryable is None else retryable
        self.retry_after = retry_after
        self.status = status


def loggable(exc: BaseException) -> str:
    """What a log line may say about a failure: a provider error's message without its quote of the stream."""
    from django.conf import settings

    if isinstance(exc, ProviderError) and not getattr(settings, "LOG_MESSAGE_TEXT", False):
        return exc.withheld
    return getattr(exc, "message", None) or str(exc)


TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})


def is_transient_status(status: int) -> bool:
    return status in TRANSIENT_STATUSES or status >= 500


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
