"""Where morrow's files live: the home, the config file, the logs.

Resolution (DESIGN.md, "Command-line contract"): the home is ``--home``, else ``$MORROW_HOME``,
else the platform's data directory. The config file is ``--config``, else ``$MORROW_CONFIG``,
else ``<home>/config.toml`` when a home was given, else the platform's config directory.
Relative paths inside the config are relative to the home. This module imports no pydantic:
the logging set-up needs it before any config is read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    """Where this run reads and writes.

    Attributes:
        home: root for data and state; relative config paths are resolved against it.
        config: the config file (it may not exist).
        config_explicit: whether the user named the config file (then it must exist).
        logs: folder of the JSON log file.
    """

    home: Path
    config: Path
    config_explicit: bool
    logs: Path

    @classmethod
    def resolve(cls, *, home: str | None = None, config: str | None = None) -> Paths:
        """Work out the paths from flags, then the environment, then the platform defaults."""
        home = home or os.environ.get("MORROW_HOME") or None
        config = config or os.environ.get("MORROW_CONFIG") or None
        if home:
            root = Path(home).expanduser().resolve()
            logs = root / "logs"
            default_config = root / "config.toml"
        else:
            import platformdirs

            root = platformdirs.user_data_path("morrow")
            logs = platformdirs.user_log_path("morrow")
            default_config = platformdirs.user_config_path("morrow") / "config.toml"
        config_path = Path(config).expanduser().resolve() if config else default_config
        return cls(home=root, config=config_path, config_explicit=bool(config), logs=logs)

    def resolve_path(self, value: str) -> Path:
        """A path from the config: ``~`` expanded, relative paths taken from the home."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.home / path
