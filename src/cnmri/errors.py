"""One error root for everything a user can act on.

The CLI prints the message of a :class:`CnmriError` and exits with its ``exit_code``; it never shows a
traceback for these. Messages name the file or field and say what to do.
"""

from __future__ import annotations


class CnmriError(Exception):
    """Base of all errors the user can understand and act on."""

    exit_code: int = 3


class InputError(CnmriError, ValueError):
    """The input cannot be used (missing file, wrong format, nonsense value). Exit code 2."""

    exit_code = 2


class ProcessingError(CnmriError, RuntimeError):
    """The input was acceptable but processing failed (e.g. registration did not converge). Exit code 3."""

    exit_code = 3


class TemplateNotFoundError(InputError):
    """No copy of the canonical template could be found."""


class RegistrationError(ProcessingError):
    """A registration result failed its quality check."""


__all__ = ["CnmriError", "InputError", "ProcessingError", "RegistrationError", "TemplateNotFoundError"]
