"""Errors of the application, each knowing the exit code the CLI ends with.

```
AssistantError                      exit 1
├─ UsageError                       exit 2   bad command line
├─ ConfigError                      exit 78  bad or missing configuration
├─ BusyError                        exit 75  another run holds the lock
├─ BudgetExceeded                   exit 1   the next request would cross [budget]
├─ StoreError                       exit 1   the store (<home>/morrow.sqlite) cannot be used
├─ ProviderError                    exit 69  (provider, status, retryable, retry_after)
│   ├─ ProviderUnavailable          timeout, 408/409/429, 5xx, overloaded, connection
│   ├─ ProviderRejected             exit 78 for 401/403 (the key) and 404 (the model);
│   │                               exit 1 for 400/413/422 and a malformed response
│   └─ AllProvidersFailed           keeps every cause; 78 if one is 78, else 69 if one
│                                   is 69, else 1
└─ ModelBehaviorError               exit 1
    └─ TurnLimitExceeded            the step limit was reached
```

The CLI prints ``str(error)`` on one line and exits with ``error.exit_code``.
"""

from __future__ import annotations

from collections.abc import Sequence


class AssistantError(Exception):
    """Root of morrow's own errors."""

    exit_code = 1


class UsageError(AssistantError):
    """The command line was wrong."""

    exit_code = 2


class ConfigError(AssistantError):
    """The configuration is invalid or something it needs is missing."""

    exit_code = 78


class BusyError(AssistantError):
    """Another run holds the lock this run needs."""

    exit_code = 75


class BudgetExceeded(AssistantError):
    """The next model request would cross a configured budget; it was not sent.

    Attributes:
        limit: the ``[budget]`` key that stopped the run (``per_day_usd``, ...).
    """

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class StoreError(AssistantError):
    """The store cannot be opened, read or written; the message says which file and why.

    Exit 1, or 78 when the home cannot be written (the set-up's problem, not the store's).
    """

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ProviderError(AssistantError):
    """A model provider failed.

    Attributes:
        provider: name of the configured provider.
        status: HTTP status when there was one.
        retryable: whether trying the same request again may succeed.
        retry_after: seconds the provider asked us to wait, when it said.
    """

    exit_code = 69

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{self.provider}: {self.args[0]}{status}"


class ProviderUnavailable(ProviderError):
    """The provider could not answer now; trying later may work."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message, provider=provider, status=status, retryable=True, retry_after=retry_after
        )


CONFIG_STATUSES = frozenset({401, 403, 404})
"""Rejections the user fixes in the config: the key (401, 403) or the model's name (404)."""


class ProviderRejected(ProviderError):
    """The provider refused the request or answered something unusable; retrying won't help.

    A bad key (401, 403) or an unknown model (404) is a configuration error (exit 78); a
    request the provider would not take (400, 413, 422) or an answer morrow could not use
    is a failed job (exit 1): no other provider being reachable would change either.
    """

    def __init__(self, message: str, *, provider: str, status: int | None = None) -> None:
        super().__init__(message, provider=provider, status=status, retryable=False)
        self.exit_code = ConfigError.exit_code if status in CONFIG_STATUSES else 1


class AllProvidersFailed(ProviderError):
    """Every configured provider failed; ``causes`` keeps each one's error."""

    def __init__(self, causes: Sequence[ProviderError]) -> None:
        super().__init__("every provider failed", provider="all")
        self.causes = list(causes)
        codes = {cause.exit_code for cause in self.causes}
        # a mistake to fix comes first; then "try later"; else the request itself failed
        self.exit_code = next((c for c in (78, 69) if c in codes), 1 if codes else 69)

    def __str__(self) -> str:
        lines = ["no provider could answer:"]
        lines += [f"  {cause}" for cause in self.causes]
        return "\n".join(lines)


class ModelBehaviorError(AssistantError):
    """The model did something the loop cannot continue from."""


class TurnLimitExceeded(ModelBehaviorError):
    """The model kept calling tools past the step limit."""
