"""One exception family: every failure a user can cause is an NlpkitError.

The CLI renders these as one line and exits with ``exit_code``: 2 for usage
errors (bad arguments, bad input files, bad recipes), 1 for runtime failures.

Messages name arguments as Python spells them (``max_new_tokens``,
``device='cpu'``, ``chat=False``) and list them in ``params``; the CLI shows
the same message with its flags (``--max-new-tokens``, ``--device cpu``,
``--no-chat``).
"""

from __future__ import annotations


class NlpkitError(Exception):
    """Base of all nlpkit errors; the message says what, where and how to fix."""

    exit_code = 1

    def __init__(self, *args: object, param: str | tuple[str, ...] | None = None) -> None:
        super().__init__(*args)
        self.params: tuple[str, ...] = (param,) if isinstance(param, str) else tuple(param or ())

    @property
    def param(self) -> str | None:
        """The (first) argument the message is about, as the Python API names it."""
        return self.params[0] if self.params else None


class UsageError(NlpkitError):
    """The user asked for something that cannot work as stated."""

    exit_code = 2


class InputError(UsageError):
    """An input text, file or column is missing, empty or unreadable."""


class RecipeError(UsageError):
    """A recipe file is malformed or fails validation."""


class DeviceError(UsageError):
    """A device or dtype was asked for that this machine does not have."""


class OutputError(NlpkitError):
    """An output path cannot be written, or would overwrite something unasked."""


class ModelNotFoundError(NlpkitError):
    """A model is neither a local folder nor reachable on the Hub."""


class ModelLoadError(NlpkitError):
    """A model was found but could not be loaded (corrupt, mismatched, unsupported)."""


class TrainingError(NlpkitError):
    """A fine-tuning run failed or cannot be resumed."""


class DependencyError(NlpkitError):
    """An optional package needed for this feature is not installed."""


class NlpkitWarning(UserWarning):
    """Something the user should know once (truncation, untrained heads).

    ``params`` names the arguments the message mentions, so the CLI can show flags.
    """

    def __init__(self, message: str, param: str | tuple[str, ...] | None = None) -> None:
        super().__init__(message)
        self.params: tuple[str, ...] = (param,) if isinstance(param, str) else tuple(param or ())


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (or its type), short enough for one error line."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:limit]
