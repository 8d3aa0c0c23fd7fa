"""An optional LLM judge: grades an answer against a case's rubric through the provider chain.

Off by default (``morrow eval run --judge`` turns it on): a judge costs tokens and is itself a
model that can be wrong, so deterministic checks come first and the judge only grades what they
cannot (tone, completeness). The judge is asked for one line starting with PASS or FAIL and a
reason; anything else counts as a failure, with the reply quoted.
"""

from __future__ import annotations

from collections.abc import Callable

from morrow.agent.messages import Message, ModelRequest
from morrow.agent.providers.base import Provider
from morrow.evals.runner import JudgeVerdict

SYSTEM = (
    "You grade an assistant's answer against a rubric. Reply with one line: PASS or FAIL, "
    "then a colon and a short reason. Judge only what the rubric asks."
)


class Judge:
    """Grades answers with a model from the configured providers.

    Args:
        provider: makes the provider to ask (called once per grading).
    """

    def __init__(self, provider: Callable[[], Provider]) -> None:
        self._provider = provider

    async def __call__(self, question: str, answer: str, rubric: str) -> JudgeVerdict:
        """Grade ``answer`` to ``question`` against ``rubric``."""
        prompt = (
            f"Rubric:\n{rubric}\n\nThe user asked:\n{question}\n\nThe assistant answered:\n{answer}"
        )
        provider = self._provider()
        try:
            response = await provider.complete(
                ModelRequest(system=SYSTEM, messages=(Message.user(prompt),), max_tokens=200)
            )
        finally:
            await provider.aclose()
        return parse_verdict(response.text)


def parse_verdict(text: str) -> JudgeVerdict:
    """Read a judge's reply: "PASS: ..." or "FAIL: ..."; anything else fails."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    head, _, reason = line.partition(":")
    verdict = head.strip().upper()
    if verdict in ("PASS", "FAIL"):
        return JudgeVerdict(verdict == "PASS", reason.strip() or verdict.lower())
    return JudgeVerdict(False, f"the judge did not answer PASS or FAIL: {line[:120]!r}")
