"""Errors the library raises on purpose, and the exit code each one means.

A job maps these (and only these) to exit codes: :class:`ConfigError` and
:class:`MissingInputError` -> 2 (fix the configuration or run the job that
produces the input), :class:`DataError` -> 3 (the input data breaks the
contract; the message names the table, column and what to do). Anything else
is a bug or an outage: exit 1 with the traceback. :class:`BusyError` (another
run holds the lock) -> 75, and :class:`StageFailed` carries the failed
stage's own code. A job that ends normally exits 0, except the ``monitor``
job (and a cycle that ran it): :data:`EXIT_RETRAIN` (10) when it advises
retraining, so schedulers can branch on it.
"""

from __future__ import annotations


class NtlError(Exception):
    """Base of the errors raised on purpose by ntl_spark."""


class ConfigError(NtlError, ValueError):
    """A configuration key or value is wrong; the message names the key."""


class MissingInputError(NtlError, FileNotFoundError):
    """A source file or table a job needs does not exist; the message names it and its producer."""


class DataError(NtlError, ValueError):
    """Input data breaks the contract in a way that stops the job; the message names it."""


class BusyError(NtlError):
    """Another run holds the lock this job needs (e.g. a monthly cycle still running); try again later."""


class StageFailed(NtlError):
    """A stage of a multi-stage run (the monthly cycle) failed; carries that stage's exit code."""

    def __init__(self, stage: str, code: int, message: str) -> None:
        super().__init__(f"stage {stage} failed (exit {code}): {message}")
        self.stage = stage
        self.code = code


EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_DATA = 3
EXIT_RETRAIN = 10  # not an error: the monitor (and the cycle that ran it) advises retraining the champion
EXIT_BUSY = 75  # EX_TEMPFAIL: schedulers retry later
