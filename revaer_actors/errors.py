"""The project's exceptions: one base, one kind per layer, ids as attributes."""

from __future__ import annotations


class RevaerError(Exception):
    """Base of every error this project raises on purpose."""


class InvalidInput(RevaerError):
    """The caller sent something we refuse; nothing was changed.

    `field` is a JSON pointer to the offending field when there is one.
    """

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class TorrentExists(RevaerError):
    def __init__(self, info_hash: str, merged_trackers: int = 0) -> None:
        detail = f"torrent {info_hash} is already in the catalog"
        if merged_trackers:
            detail += f"; {merged_trackers} new tracker(s) merged into it"
        super().__init__(detail)
        self.info_hash = info_hash
        self.merged_trackers = merged_trackers


class TorrentNotFound(RevaerError):
    def __init__(self, info_hash: str) -> None:
        super().__init__(f"no torrent with id {info_hash}")
        self.info_hash = info_hash


class JobNotFound(RevaerError):
    def __init__(self, job_id: int | str) -> None:
        # A str when the id sent is not a number: the detail names what was sent.
        super().__init__(f"no fs job with id {job_id}")
        self.job_id = job_id


class JobNotRetryable(RevaerError):
    """Only a failed job can be retried by hand."""

    def __init__(self, job_id: int, status: str) -> None:
        super().__init__(f"fs job {job_id} is {status}; only a failed job is retried")
        self.job_id = job_id
        self.status = status


class DatabaseUnavailable(RevaerError):
    """A write that needs a durable answer could not be committed."""


class EngineError(RevaerError):
    """libtorrent refused an operation."""

    def __init__(self, detail: str, *, info_hash: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.info_hash = info_hash


class ConfigError(RevaerError):
    """The daemon's configuration cannot be used."""


class AlreadyRunning(RevaerError):
    """Another daemon holds the data directory."""


class LastActiveKey(RevaerError):
    """Revoking this key would leave no way into the API."""
