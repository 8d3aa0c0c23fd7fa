"""The one retry policy, and fallback across providers: both are providers wrapping providers.

:class:`RetryingProvider` owns every retry (the SDKs' own retries are off). The adapters turn
every failure into a :class:`~morrow.agent.errors.ProviderError`: ``ProviderUnavailable`` for what
may pass (connection errors, timeouts, 408, 409, 429, 5xx, 529, an overloaded event inside a
stream, a stream cut short) and ``ProviderRejected`` for what will not (400, 401, 403, 404,
413, 422, a malformed response). Only the former is retried, on tenacity: exponential backoff
with full jitter (a random wait between 0 and ``initial * 2**(n-1)``, capped), or exactly the
wait the provider asked for (``retry-after-ms`` / ``Retry-After``) when it is within
``retry_after_cap_seconds``. A provider that asks for more is given up on at once: waiting less
than it said would only be refused again. No wait starts that would end past the step deadline,
and no attempt waits for its first event past it.

:class:`FallbackProvider` tries its providers in order (healthy ones first, see
``agent/health.py``); one is left for the next when its retries are exhausted or it failed in a
way retrying cannot fix. Every provider receives the same neutral request, the whole history;
each adapter translates it (tool call ids included) to its own wire format. When all fail, the
error is :class:`~morrow.agent.errors.AllProvidersFailed`, one line per provider.

Streams have a commit point: the first event handed to the caller. A failure before it is
retried or failed over silently; after it, the next attempt begins with a
:class:`~morrow.agent.messages.StepRestarted` event, so the caller discards what it showed. A step's
tool calls exist only in its final ``ResponseDone``, so no retry can run a tool twice.

The sleep, the clock and the jitter are injectable (:class:`Timing`): tests never sleep and can
assert the exact waits asked for.

What a step waits for is reported, never printed: each attempt and each wait before a retry
is a :class:`Waiting` handed to the observer of the current context (:func:`reporting_waits`;
the chat's and ``ask``'s spinner: "waiting for anthropic ... retry 2/3 in 6 s").
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import aclosing, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from morrow.agent.config import ProviderConfig
from morrow.agent.errors import (
    AllProvidersFailed,
    ConfigError,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
)
from morrow.agent.messages import ModelRequest, ModelResponse, StepRestarted, StreamEvent
from morrow.agent.providers.base import Provider
from morrow.agent.providers.health import HealthStore

log = structlog.get_logger("morrow.resilience")

# Failures that say nothing about the provider's health, only about this request.
_REQUEST_STATUSES = frozenset({400, 413, 422})


@dataclass(frozen=True)
class Waiting:
    """What a model step waits for now: an attempt under way, or the wait before a retry.

    Attributes:
        provider: the provider asked.
        model: its model.
        attempt: the attempt under way, or the one the wait leads to (1, 2, ...).
        max_attempts: the attempts this provider gets.
        retry_in: seconds until that attempt (None: it is under way).
        reason: why the previous attempt failed, when one did.
    """

    provider: str
    model: str
    attempt: int
    max_attempts: int
    retry_in: float | None = None
    reason: str | None = None

    def describe(self) -> str:
        """``waiting for anthropic (claude-x) ... retry 2/3 in 6 s: overloaded``."""
        text = f"waiting for {self.provider} ({self.model})"
        if self.retry_in is not None:
            text += f" ... retry {self.attempt}/{self.max_attempts} in {self.retry_in:.0f} s"
        elif self.attempt > 1:
            text += f" ... retry {self.attempt}/{self.max_attempts}"
        if self.reason:
            text += f": {self.reason.splitlines()[0][:80]}"
        return text


WaitObserver = Callable[[Waiting], None]
_WAITS: ContextVar[WaitObserver | None] = ContextVar("morrow_waits", default=None)


@contextmanager
def reporting_waits(observer: WaitObserver | None) -> Iterator[None]:
    """Report every attempt and retry wait of the model steps run inside to ``observer``.

    The observer belongs to the context (tasks started inside inherit it), so the provider
    chain needs no knowledge of who is watching.
    """
    token = _WAITS.set(observer)
    try:
        yield
    finally:
        _WAITS.reset(token)


def _report(waiting: Waiting) -> None:
    observer = _WAITS.get()
    if observer is not None:
        observer(waiting)


def full_jitter(ceiling: float) -> float:
    """A wait drawn uniformly from ``[0, ceiling]`` ("full jitter": spreads retrying clients)."""
    return random.uniform(0.0, ceiling)


@dataclass(frozen=True)
class Timing:
    """How waiting and time are done: real by default, injected in tests.

    Attributes:
        sleep: waits the given seconds.
        clock: monotonic seconds, for deadlines.
        jitter: picks a wait in ``[0, ceiling]``.
    """

    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic
    jitter: Callable[[float], float] = full_jitter


@dataclass(frozen=True)
class RetryPolicy:
    """How one provider is retried (``[[providers]]`` keys of the same names).

    Attributes:
        max_attempts: attempts in all, the first included.
        backoff_initial: ceiling of the first backoff wait, in seconds; it doubles per attempt.
        backoff_max: the highest backoff ceiling.
        retry_after_cap: the longest ``Retry-After`` honoured; asking for more gives up.
    """

    max_attempts: int = 3
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    retry_after_cap: float = 60.0

    @classmethod
    def from_config(cls, config: ProviderConfig) -> RetryPolicy:
        """The policy a ``[[providers]]`` entry configures."""
        return cls(
            max_attempts=config.max_attempts,
            backoff_initial=config.backoff_initial_seconds,
            backoff_max=config.backoff_max_seconds,
            retry_after_cap=config.retry_after_cap_seconds,
        )

    def backoff_ceiling(self, failed_attempts: int) -> float:
        """The most the backoff may wait after ``failed_attempts`` failures (1, 2, ...)."""
        return float(min(self.backoff_max, self.backoff_initial * 2 ** (failed_attempts - 1)))


class Deadline:
    """The end of one model step's time, shared by its retries and failovers."""

    def __init__(self, seconds: float | None, clock: Callable[[], float]) -> None:
        """Start the step's clock now; ``None`` means no deadline."""
        self.seconds = seconds
        self._clock = clock
        self._end = None if seconds is None else clock() + seconds

    def remaining(self) -> float | None:
        """Seconds left (never negative), or None without a deadline."""
        return None if self._end is None else max(0.0, self._end - self._clock())

    @property
    def expired(self) -> bool:
        """Whether no time is left."""
        left = self.remaining()
        return left is not None and left <= 0


@dataclass
class _Committed:
    """Whether events of the current step reached the caller (shared across failovers)."""

    shown: bool = False
    reason: str = "the step restarted"


@dataclass
class _Run:
    """What one call (all attempts at one provider) learned, for the error and the logs."""

    attempts: int = 0
    stop_note: str = ""
    errors: list[ProviderError] = field(default_factory=list)


class RetryingProvider:
    """A provider behind the one retry policy.

    Attributes:
        name: the wrapped provider's name.
        model: the wrapped provider's model.
        inner: the wrapped provider.
        policy: its retry policy.
    """

    def __init__(
        self,
        inner: Provider,
        policy: RetryPolicy | None = None,
        *,
        timing: Timing | None = None,
        step_deadline: float | None = None,
        health: HealthStore | None = None,
    ) -> None:
        """Wrap ``inner``.

        Args:
            inner: the adapter (or any provider) to retry.
            policy: attempts and waits; the defaults of ``[[providers]]`` when omitted.
            timing: sleep, clock and jitter (tests inject them).
            step_deadline: seconds one step may take when this provider is used alone (a
                :class:`FallbackProvider` passes its own deadline instead).
            health: where failures and answers are remembered across processes.
        """
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self.policy = policy or RetryPolicy()
        self.timing = timing or Timing()
        self.step_deadline = step_deadline
        self.health = health

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One model step, answered whole, retried per the policy."""
        return await self.complete_within(request, Deadline(self.step_deadline, self.timing.clock))

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """One model step, streamed, retried per the policy (see the module's commit point)."""
        deadline = Deadline(self.step_deadline, self.timing.clock)
        return self.stream_within(request, deadline, _Committed())

    async def aclose(self) -> None:
        """Close the wrapped provider."""
        await self.inner.aclose()

    async def complete_within(self, request: ModelRequest, deadline: Deadline) -> ModelResponse:
        """:meth:`complete` within a deadline that started elsewhere."""
        run = _Run()
        try:
            async for attempt in self._retrying(deadline, run):
                self._attempt_started(run)
                try:
                    async with asyncio.timeout(deadline.remaining()):
                        response = await self.inner.complete(request)
                except TimeoutError:
                    error: ProviderError = self._deadline_error(deadline)
                except ProviderError as exc:
                    error = exc
                else:
                    self._answered(run)
                    return response
                with attempt:
                    self._attempt_failed(run, error)
        except ProviderError as error:
            raise self._gave_up(run, error) from error.__cause__
        raise AssertionError("unreachable: tenacity either retries or raises")  # pragma: no cover

    async def stream_within(
        self, request: ModelRequest, deadline: Deadline, committed: _Committed
    ) -> AsyncGenerator[StreamEvent, None]:
        """:meth:`stream` within a deadline and a commit state that started elsewhere."""
        run = _Run()
        try:
            async for attempt in self._retrying(deadline, run):
                if committed.shown:  # an earlier attempt (or provider) reached the caller
                    log.info("step_restarted", provider=self.name, reason=committed.reason)
                    committed.shown = False
                    yield StepRestarted(provider=self.name, reason=committed.reason)
                self._attempt_started(run)
                error: ProviderError | None = None
                try:
                    stream = _first_within(self.inner.stream(request), deadline)
                    async with aclosing(stream) as events:
                        async for event in events:
                            committed.shown = True
                            yield event
                except TimeoutError:
                    error = self._deadline_error(deadline)
                except ProviderError as exc:
                    error = exc
                if error is None:
                    self._answered(run)
                    return
                committed.reason = str(error)
                with attempt:
                    self._attempt_failed(run, error)
        except ProviderError as error:
            raise self._gave_up(run, error) from error.__cause__

    # -- the policy, on tenacity -----------------------------------------------------------------

    def _retrying(self, deadline: Deadline, run: _Run) -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception(lambda exc: isinstance(exc, ProviderUnavailable)),
            wait=self._wait,
            stop=lambda state: self._stop(state, deadline, run),
            sleep=self.timing.sleep,
            before_sleep=self._log_wait,
            reraise=True,
        )

    def _wait(self, state: RetryCallState) -> float:
        error = _error_of(state)
        if error is not None and error.retry_after is not None:
            return float(error.retry_after)
        return self.timing.jitter(self.policy.backoff_ceiling(state.attempt_number))

    def _stop(self, state: RetryCallState, deadline: Deadline, run: _Run) -> bool:
        error = _error_of(state)
        if state.attempt_number >= self.policy.max_attempts:
            return True
        if error is not None and error.retry_after is not None:
            if error.retry_after > self.policy.retry_after_cap:
                run.stop_note = (
                    f"it asked to wait {error.retry_after:.0f} s, more than "
                    f"retry_after_cap_seconds = {self.policy.retry_after_cap:g}"
                )
                return True
        left = deadline.remaining()
        if left is not None and state.upcoming_sleep >= left:
            run.stop_note = f"the step deadline of {deadline.seconds:g} s left no time to retry"
            return True
        return False

    def _log_wait(self, state: RetryCallState) -> None:
        error = _error_of(state)
        told = error is not None and error.retry_after is not None
        _report(
            Waiting(
                self.name,
                self.model,
                state.attempt_number + 1,
                self.policy.max_attempts,
                retry_in=state.upcoming_sleep,
                reason=None if error is None else str(error.args[0]),
            )
        )
        log.info(
            "provider_retry_wait",
            provider=self.name,
            attempt=state.attempt_number,
            wait_seconds=round(state.upcoming_sleep, 3),
            source="retry-after" if told else "backoff",
        )

    # -- bookkeeping -----------------------------------------------------------------------------

    def _attempt_started(self, run: _Run) -> None:
        run.attempts += 1
        _report(Waiting(self.name, self.model, run.attempts, self.policy.max_attempts))
        log.info(
            "provider_attempt",
            provider=self.name,
            model=self.model,
            attempt=run.attempts,
            max_attempts=self.policy.max_attempts,
        )

    def _attempt_failed(self, run: _Run, error: ProviderError) -> None:
        run.errors.append(error)
        log.info(
            "provider_attempt_failed",
            provider=self.name,
            attempt=run.attempts,
            status=error.status,
            retryable=error.retryable,
            reason=str(error),
        )
        raise error

    def _answered(self, run: _Run) -> None:
        if run.attempts > 1:
            log.info("provider_recovered", provider=self.name, attempts=run.attempts)
        if self.health is not None:
            self.health.record_success(self.name, self.model)

    def _deadline_error(self, deadline: Deadline) -> ProviderUnavailable:
        return ProviderUnavailable(
            f"no answer within the step deadline of {deadline.seconds:g} s", provider=self.name
        )

    def _gave_up(self, run: _Run, error: ProviderError) -> ProviderError:
        """The last error, its message saying why retrying stopped; remembered in health."""
        if isinstance(error, ProviderUnavailable):
            note = run.stop_note or (
                f"gave up after {run.attempts} attempts"
                if run.attempts > 1
                else "not retried (max_attempts = 1)"
            )
            error.args = (f"{error.args[0]}; {note}", *error.args[1:])
        log.info(
            "provider_gave_up",
            provider=self.name,
            attempts=run.attempts,
            status=error.status,
            reason=str(error),
        )
        if self.health is not None and error.status not in _REQUEST_STATUSES:
            self.health.record_failure(
                self.name, self.model, str(error), retry_after=error.retry_after
            )
        return error


def _error_of(state: RetryCallState) -> ProviderError | None:
    outcome = state.outcome
    error = outcome.exception() if outcome is not None and outcome.failed else None
    return error if isinstance(error, ProviderError) else None


async def _first_within(
    events: AsyncIterator[StreamEvent], deadline: Deadline
) -> AsyncGenerator[StreamEvent, None]:
    """The events of a stream; the first must come before the deadline. Closes the stream."""
    try:
        async with asyncio.timeout(deadline.remaining()):
            first = await anext(events, None)
        if first is None:
            return
        yield first
        async for event in events:
            yield event
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


class FallbackProvider:
    """Providers tried in turn for each step; fails only when every one of them has.

    Attributes:
        name: ``fallback``; each response names the provider that actually answered.
        model: the first provider's model.
        members: the retrying providers, in configured order.
    """

    name = "fallback"

    def __init__(
        self,
        members: Sequence[RetryingProvider],
        *,
        step_deadline: float | None = None,
        health: HealthStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Wrap ``members`` (at least one).

        Args:
            members: the providers, each behind its own retry policy, in configured order.
            step_deadline: seconds one step may take, retries and failovers included.
            health: orders the members (recently failed ones last) for every step.
            clock: monotonic clock for the deadline (tests inject one).
        """
        if not members:
            raise ValueError("a fallback needs at least one provider")
        self.members = list(members)
        self.model = self.members[0].model
        self.step_deadline = step_deadline
        self.health = health
        self._clock = clock

    def ordered(self) -> list[RetryingProvider]:
        """The members in the order this step tries them."""
        if self.health is None:
            return list(self.members)
        by_name = {m.name: m for m in self.members}
        return [by_name[n] for n in self.health.order([m.name for m in self.members])]

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One model step, answered whole by the first provider that can."""
        deadline = Deadline(self.step_deadline, self._clock)
        causes: list[ProviderError] = []
        for member in self.ordered():
            if deadline.expired:
                causes.append(_not_tried(member, deadline))
                continue
            try:
                return await member.complete_within(request, deadline)
            except ProviderError as error:
                causes.append(error)
                _log_failover(member, error)
        raise _all_failed(causes)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """One model step, streamed by the first provider that can (restarts announced)."""
        deadline = Deadline(self.step_deadline, self._clock)
        committed = _Committed()
        causes: list[ProviderError] = []
        for member in self.ordered():
            if deadline.expired:
                causes.append(_not_tried(member, deadline))
                continue
            try:
                async with aclosing(member.stream_within(request, deadline, committed)) as events:
                    async for event in events:
                        yield event
                return
            except ProviderError as error:
                causes.append(error)
                _log_failover(member, error)
        raise _all_failed(causes)

    async def aclose(self) -> None:
        """Close every member (each is closed even when another fails to close)."""
        results = await asyncio.gather(*(m.aclose() for m in self.members), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result


def _not_tried(member: RetryingProvider, deadline: Deadline) -> ProviderUnavailable:
    return ProviderUnavailable(
        f"not tried: the step deadline of {deadline.seconds:g} s had passed", provider=member.name
    )


def _log_failover(member: RetryingProvider, error: ProviderError) -> None:
    log.info("provider_failover", provider=member.name, status=error.status, reason=str(error))


def _all_failed(causes: list[ProviderError]) -> AllProvidersFailed:
    error = AllProvidersFailed(causes)
    log.info("all_providers_failed", reasons=[str(c) for c in causes])
    return error


class DeferredProvider:
    """A provider built on first use: its SDK is imported and its key read only if needed.

    A configuration problem found then (the key's variable is not set) becomes a
    ``ProviderRejected`` of this provider, so a fallback moves on to the next one.

    Attributes:
        name: the configured provider name.
        model: the configured model.
    """

    def __init__(self, name: str, model: str, build: Callable[[], Provider]) -> None:
        """Remember how to build the provider; nothing is built yet."""
        self.name = name
        self.model = model
        self._build = build
        self._built: Provider | None = None

    def _provider(self) -> Provider:
        if self._built is None:
            try:
                self._built = self._build()
            except ConfigError as error:
                rejected = ProviderRejected(f"not usable: {error}", provider=self.name)
                rejected.exit_code = error.exit_code  # a mistake in the config, not an outage
                raise rejected from None
        return self._built

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One model step, answered whole."""
        return await self._provider().complete(request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """One model step, streamed."""
        events = self._provider().stream(request)
        try:
            async for event in events:
                yield event
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()

    async def aclose(self) -> None:
        """Close the provider if it was built."""
        if self._built is not None:
            await self._built.aclose()
