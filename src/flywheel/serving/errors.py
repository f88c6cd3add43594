"""Contract errors of the inference layer, raised by the engine and registry, mapped to HTTP once.

The mapping to status codes lives in `flywheel.serving.http` (STATUS); nothing here knows HTTP. An
error that asks the caller to come back later carries `retry_after` in seconds.
"""

from __future__ import annotations


class ServingError(Exception):
    """Base of every error the serving layer answers with a status code."""

    retry_after: float | None = None


class BadRequest(ServingError):
    """The request body or its parameters are malformed or out of range; the message says which."""


class ModelRejected(BadRequest):
    """A model that cannot be loaded from what was given: no artifact, a hostile or broken archive."""


class ModelNotFound(ServingError):
    """No model of that name is loaded."""


class ModelAlreadyLoaded(ServingError):
    """A model of that name is already loaded (or loading)."""


class InsufficientMemory(ServingError):
    """The model does not fit the memory budget even after evicting every idle model."""


class Overloaded(ServingError):
    """The admission queue is full: come back after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float = 1.0):
        super().__init__(message)
        self.retry_after = retry_after


class RequestTimeout(ServingError):
    """The request waited longer than its timeout before it could start."""

    def __init__(self, message: str, retry_after: float = 1.0):
        super().__init__(message)
        self.retry_after = retry_after


class EngineFailure(ServingError):
    """The engine failed while running the request; it keeps serving others."""
