"""The error hierarchy. Every message says what failed, why, and what to do next."""

from __future__ import annotations


class LaunchError(Exception):
    """Base class: an expected failure with a message meant for the user."""

    exit_code = 1

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return self.message if not self.fix else f"{self.message}\n  Fix: {self.fix}"


class InputError(LaunchError):
    """The user's input (paths, files, flags) cannot be used as given."""

    exit_code = 2


class NothingThere(InputError):
    """A well-formed path the user named (a gs:// prefix, a pattern) under which there is nothing."""


class StorageError(LaunchError):
    """Google Cloud Storage refused or failed a request."""

    exit_code = 3


class MissingDependencyError(LaunchError):
    """A component this command needs is not installed here."""

    exit_code = 4


class Interrupted(LaunchError):
    """Stopped by SIGINT / SIGTERM; whatever was complete is kept."""

    exit_code = 130


class EngineUnavailable(MissingDependencyError):
    """The Docker engine cannot be reached (not installed, not running, not permitted)."""


class ImageError(LaunchError):
    """Building, tagging, pushing or pulling an image failed (registry refusals included)."""

    exit_code = 5


class CloudError(LaunchError):
    """A Google Cloud API (Vertex AI, Cloud Logging) refused or failed a request. ``capacity``:
    for want of capacity or quota in a region (another region, or on-demand VMs, may have it)."""

    exit_code = 6
    capacity = False


class JobFailed(LaunchError):
    """A training job ended in a state other than success."""

    exit_code = 7
