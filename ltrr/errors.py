"""The package's exceptions: one base class, subclasses by kind of failure.

Every error names what was wrong and what was expected, so that a caller can
fix the input without reading the source.
"""

from __future__ import annotations

__all__ = [
    "CapabilityError",
    "CorruptModelError",
    "DataError",
    "DataNotFoundError",
    "DuplicateIdError",
    "EmptyQueryError",
    "InvalidInputError",
    "LogClosedError",
    "LogFormatError",
    "LtrrError",
    "NotFittedError",
    "UnknownNameError",
]


class LtrrError(Exception):
    """Base class of every error raised on purpose by ltrr, strategies and simulators."""


class InvalidInputError(LtrrError, ValueError):
    """An argument or record has a value outside what is accepted."""


class EmptyQueryError(InvalidInputError):
    """A query is empty or holds only whitespace."""


class DuplicateIdError(InvalidInputError):
    """Two records share an id that must be unique."""


class UnknownNameError(InvalidInputError):
    """A name (strategy, field, item, user, ...) is not one of the known names."""


class DataError(LtrrError):
    """A data folder or file is malformed."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A data folder or file does not exist."""


class LogFormatError(DataError):
    """A line of an event log does not parse or does not follow the schema."""


class LogClosedError(LtrrError, RuntimeError):
    """A record was appended to an :class:`EventLog` after :meth:`EventLog.close`."""


class CorruptModelError(LtrrError):
    """A saved model or index is missing files, or its files do not parse."""


class NotFittedError(LtrrError, RuntimeError):
    """A model was used before ``fit`` (or ``load``)."""


class CapabilityError(LtrrError, NotImplementedError):
    """A strategy was asked for an optional capability it does not declare."""
