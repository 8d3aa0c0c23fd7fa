"""Secrets from the environment: the one place that reads what a ``*_env`` key names.

A config file never holds a secret, only the name of the environment variable that does
(``api_key_env``, ``password_env``). :func:`from_env` reads one, or raises the one error form
``<file>: <dotted.key>: environment variable NAME is not set`` (exit 78). Every value it hands
out is remembered, so the log redaction (``agent/logs.py``) scrubs it whatever the variable is
called, as well as every variable whose name says it holds a secret (``*_API_KEY``,
``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``).

This module stays light (no pydantic, no structlog): the logging set-up imports it at start.
"""

from __future__ import annotations

import os
import re

from morrow.agent.errors import ConfigError

SECRET_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
SHORTEST_SECRET = 8  # shorter values are not scrubbed: they would redact ordinary words
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_handed_out: set[str] = set()


def is_variable_name(name: str) -> bool:
    """Whether ``name`` can be an environment variable's name (and so is not a secret itself)."""
    return bool(_VARIABLE.fullmatch(name))


def is_set(variable: str) -> bool:
    """Whether the environment variable holds something other than white space."""
    return bool(os.environ.get(variable, "").strip())


def from_env(variable: str, *, key: str, source: str) -> str:
    """The secret the environment variable ``variable`` holds, as it is set.

    Args:
        variable: the name a ``*_env`` key of the config gives.
        key: that key, dotted (``providers[0].api_key_env``), for the error.
        source: the config file, for the error.

    Raises:
        ConfigError: the variable is not set, or holds only white space.
    """
    if not is_set(variable):
        raise ConfigError(f"{source}: {key}: environment variable {variable} is not set")
    value = os.environ[variable]
    _handed_out.add(value)
    _handed_out.add(value.strip())
    return value


def handed_out() -> int:
    """How many secrets :func:`from_env` has handed out (the redaction rebuilds on a change)."""
    return len(_handed_out)


def known_secrets() -> list[str]:
    """Every secret this process knows of, the longest first (one inside another goes whole).

    The values :func:`from_env` handed out, and those of the variables whose names end in
    one of :data:`SECRET_SUFFIXES`; values shorter than :data:`SHORTEST_SECRET` are left out.
    """
    found = {value for name, value in os.environ.items() if name.endswith(SECRET_SUFFIXES)}
    found |= _handed_out
    return sorted((s for s in found if len(s) >= SHORTEST_SECRET), key=len, reverse=True)
