"""``morrow init``: write a commented config.toml, asking only what it must.

The config is ``config.example.toml`` (shipped in the package, so this works from an installed
wheel too) with the answers filled in, every other key left documented as it is: the user's
time zone (default: the system's), name and email, and one provider (its kind, model and the
environment variable that holds its key; never the key itself). Further providers of the
example are left commented out: every provider listed must have its key set, and a fresh
setup has one.

Interactive on a terminal; ``--yes`` (or no terminal) takes the flags and the defaults, for
scripts. An existing config is never overwritten without ``--force``. The result is checked
with the same parser every run uses before it is written (atomically).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from morrow.agent.config import Config, Paths, parse_config
from morrow.agent.errors import ConfigError, UsageError

KINDS = ("anthropic", "openai", "gemini")
DEFAULT_MODELS = {
    "anthropic": "claude-sonnet-5",
    "openai": "gpt-5-mini",
    "gemini": "gemini-2.5-flash",
}
DEFAULT_KEY_ENVS = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
    "gemini": "GEMINI_API_KEY",
}


@dataclass(frozen=True)
class Answers:
    """What ``morrow init`` fills in."""

    timezone: str
    name: str | None
    email: str | None
    kind: str
    model: str
    key_env: str | None
    base_url: str | None = None


def template() -> str:
    """The text of config.example.toml, as shipped with the package."""
    return (resources.files("morrow.agent") / "config.example.toml").read_text(encoding="utf-8")


def system_timezone() -> str:
    """The system's IANA zone: ``$TZ``, else what ``/etc/localtime`` points at, else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    try:
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    except OSError:
        pass
    for candidate in candidates:
        if candidate and _known_zone(candidate):
            return candidate
    return "UTC"


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return "/" in name or name == "UTC"


def render(answers: Answers, text: str | None = None) -> str:
    """config.example.toml with the answers filled in (and checked by the config parser).

    Raises:
        ConfigError: the result does not parse or does not hold the answers (the example
            changed in a way this function does not know).
    """
    lines = (text if text is not None else template()).splitlines()
    out: list[str] = []
    section, providers = "", 0
    for line in lines:
        header = re.match(r"^\s*(\[\[?[\w.\"-]+\]?\])", line)
        if header:
            section = header.group(1)
            providers += section == "[[providers]]"
        if section == "[[providers]]" and providers > 1 and line.strip():
            out.append(line if line.lstrip().startswith("#") else f"# {line}")
            continue
        if section == "[user]":
            line = _user_line(line, answers)
        elif section == "[[providers]]":
            line = _provider_line(line, answers)
        out.append(line)
    if answers.base_url and not any(re.match(r"^base_url\s*=", x) for x in out):
        raise ConfigError("config.example.toml has no base_url line to fill in")
    result = "\n".join(out) + "\n"
    _check(result, answers)
    return result


def _set(line: str, key: str, value: str | None) -> str:
    """``key = value`` in place of ``line`` when it sets (or comments out) ``key``."""
    match = re.match(rf"^#?\s*{key}\s*=\s*(\"[^\"]*\"|\S+)(\s*#.*)?$", line)
    if not match:
        return line
    if value is None:
        return line if line.startswith("#") else f"# {line}"
    return f"{key} = {_toml_string(value)}{match.group(2) or ''}"


def _user_line(line: str, answers: Answers) -> str:
    line = _set(line, "timezone", answers.timezone)
    line = _set(line, "name", answers.name) if answers.name else line
    return _set(line, "email", answers.email) if answers.email else line


def _provider_line(line: str, answers: Answers) -> str:
    line = _set(line, "kind", answers.kind)
    line = _set(line, "model", answers.model)
    line = _set(line, "api_key_env", answers.key_env)
    return _set(line, "base_url", answers.base_url) if answers.base_url else line


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _check(text: str, answers: Answers) -> Config:
    try:
        config = parse_config(tomllib.loads(text), source="the new config")
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the new config is not valid TOML: {exc}") from None
    wanted = (answers.kind, answers.model, answers.key_env, answers.base_url)
    found = [(p.kind, p.model, p.api_key_env, p.base_url) for p in config.providers]
    if found != [wanted] or config.user.timezone != answers.timezone:
        raise ConfigError("config.example.toml changed in a way `morrow init` cannot fill in")
    return config


def answers_from(args: argparse.Namespace, ask: bool) -> Answers:
    """The answers from the flags, asking on the terminal for what is missing when ``ask``."""
    zone = args.timezone or (_ask("Time zone", system_timezone()) if ask else system_timezone())
    if not _known_zone(zone):
        raise UsageError(f"unknown IANA time zone {zone!r} (e.g. Europe/Berlin)")
    name = args.name or (_ask("Your name (optional)", "") if ask else None) or None
    email = args.email or (_ask("Your email address (optional)", "") if ask else None) or None
    kind = args.provider_kind or (
        _ask(f"Provider ({'/'.join(KINDS)})", KINDS[0]) if ask else KINDS[0]
    )
    if kind not in KINDS:
        raise UsageError(f"the provider kind is one of {', '.join(KINDS)}, not {kind!r}")
    model = args.model or (_ask("Model", DEFAULT_MODELS[kind]) if ask else DEFAULT_MODELS[kind])
    default_env = None if args.base_url else DEFAULT_KEY_ENVS[kind]
    key_env = args.key_env or (
        _ask("Environment variable holding the key", default_env or "") if ask else default_env
    )
    if key_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key_env):
        raise UsageError(f"{key_env!r} is not an environment variable name (the key itself?)")
    return Answers(zone, name, email, kind, model, key_env or None, args.base_url)


def _ask(question: str, default: str) -> str:
    shown = f" [{default}]" if default else ""
    answer = input(f"{question}{shown}: ").strip()
    return answer or default


def run_init(args: argparse.Namespace) -> int:
    """The ``init`` command."""
    paths = Paths.resolve(home=args.home, config=args.config)
    target = paths.config
    if target.exists() and not args.force:
        raise UsageError(f"{target} already exists; nothing was changed (--force overwrites it)")
    ask = not args.yes and sys.stdin.isatty()
    answers = answers_from(args, ask)
    text = render(answers)
    _write(target, text)
    _say(f"wrote {target}")
    _next_steps(answers, paths)
    return 0


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def _next_steps(answers: Answers, paths: Paths) -> None:
    if answers.key_env and not os.environ.get(answers.key_env):
        _say(f"next: export {answers.key_env}=...   (your {answers.kind} API key)")
    _say(f"then: morrow doctor   (checks the config, the key and the backends; home {paths.home})")
    _say("      morrow auth google   (only to use Google Calendar or Gmail)")


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
