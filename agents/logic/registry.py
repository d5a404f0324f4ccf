"""The active watchlists, reloaded from disk when files change.

A reload is all-or-nothing: if any file is invalid, the previous good set
stays active and the errors are reported. Versions are content hashes, so
every worker reading the same files converges on the same versions without
talking to the others.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from typing import Callable, Sequence

from agents.logic.matcher import Matcher
from agents.logic.screening import Screener
from agents.logic.watchlists import (
    LoadedWatchlist,
    Watchlist,
    WatchlistErrors,
    declared_source_files,
    load_watchlist_dir,
    watchlist_files,
)

Compile = Callable[[Sequence[LoadedWatchlist]], Screener]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadOutcome:
    changed: bool
    ok: bool
    versions: dict[str, str]
    errors: list[str]


def folder_fingerprint(directory: Path) -> str:
    """Cheap change detector: names, sizes and mtimes of the watchlist files and of the list files
    (entity_sources) they name, so a new edition of a list reloads like an edit."""
    digest = hashlib.sha256()
    try:
        paths = watchlist_files(directory)
    except OSError as exc:
        return hashlib.sha256(f"error:{exc}".encode()).hexdigest()
    for path in [*paths, *declared_source_files(directory)]:
        try:
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError as exc:
            digest.update(f"{path}\0error:{exc.errno}\n".encode())
    return digest.hexdigest()


class WatchlistRegistry:
    """The active Screener (matcher and presearch, compiled together), swapped whole on a good reload."""

    def __init__(self, directory: Path, compile: Compile, warm_up: bool = False):
        self.directory = directory
        self.compile = compile
        self.warm_up = warm_up  # a worker warms each new set up in a background thread (Matcher.warm_up)
        self.screener: Screener | None = None
        self._fingerprint = ""
        self.last_errors: list[str] = []

    @property
    def matcher(self) -> Matcher | None:
        screener = self.screener
        return screener.matcher if screener else None

    @property
    def versions(self) -> dict[str, str]:
        return self.matcher.versions if self.matcher else {}

    def watchlist(self, watchlist_id: str) -> Watchlist | None:
        """The active watchlist with this id (None if it is gone or disabled)."""
        if self.matcher is None:
            return None
        return next((c.watchlist for c in self.matcher.compiled if c.watchlist.id == watchlist_id), None)

    def load_initial(self) -> None:
        """At start there is no last good version to fall back on: invalid files are fatal."""
        outcome = self.reload(force=True)
        if not outcome.ok:
            raise SystemExit("invalid watchlists, not starting:\n" + "\n".join(outcome.errors))

    def reload(self, force: bool = False) -> ReloadOutcome:
        fingerprint = folder_fingerprint(self.directory)
        if not force and fingerprint == self._fingerprint:
            return ReloadOutcome(False, True, self.versions, [])
        self._fingerprint = fingerprint
        try:
            loaded = load_watchlist_dir(self.directory)
            new_versions = {entry.watchlist.id: entry.version for entry in loaded}
            if self.matcher is not None and new_versions == self.versions:
                self.last_errors = []
                return ReloadOutcome(False, True, self.versions, [])
            screener = self.compile(loaded)
        except Exception as exc:  # noqa: BLE001 - the last good set stays active whatever the files hold
            errors = [str(e) for e in exc.errors] if isinstance(exc, WatchlistErrors) else [
                f"{self.directory}:1: (folder): cannot build the watchlists ({type(exc).__name__}: {str(exc)[:200]})"
            ]
            if errors != self.last_errors:
                for line in errors:
                    log.error("watchlist rejected, keeping the last good version: %s", line)
            self.last_errors = errors
            return ReloadOutcome(True, False, self.versions, errors)
        self.last_errors = []
        previous = self.versions
        self.screener = screener
        if self.warm_up:
            threading.Thread(target=_warm_up, args=(screener,), name="warm-up", daemon=True).start()
        log.info(
            "watchlists active: %s (previously %s)",
            ", ".join(f"{k}@{v}" for k, v in sorted(new_versions.items())),
            ", ".join(f"{k}@{v}" for k, v in sorted(previous.items())) or "none",
        )
        return ReloadOutcome(True, True, new_versions, [])


def _warm_up(screener: Screener) -> None:
    try:
        screener.matcher.warm_up()
    except Exception as exc:  # noqa: BLE001 - a failed warm-up only moves the cost to the first item that needs it
        log.warning("warming up the watchlists' multilingual vectors failed (%s: %s); the first foreign story will retry",
                    type(exc).__name__, str(exc)[:200])
