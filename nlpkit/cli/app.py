"""The typer app: every command is registered here, once; errors are rendered here."""

from __future__ import annotations

import logging
import sys
import warnings

import typer

from nlpkit import __version__
from nlpkit.cli import env as env_cli
from nlpkit.cli import finetune as finetune_cli
from nlpkit.cli import models as models_cli
from nlpkit.cli import plan as plan_cli
from nlpkit.cli import recipe as recipe_cli
from nlpkit.cli import tasks as tasks_cli
from nlpkit.errors import NlpkitError

app = typer.Typer(
    name="nlpkit",
    help="Hugging Face models as everyday NLP tools: classify, generate, summarize, translate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
_state = {"debug": False}


def _version_callback(value: bool) -> None:
    if value:
        print(f"nlpkit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks and library warnings."),
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    """Hugging Face models as everyday NLP tools."""
    _state["debug"] = debug


app.command("classify")(tasks_cli.classify_cmd)
app.command("generate")(tasks_cli.generate_cmd)
app.command("summarize")(tasks_cli.summarize_cmd)
app.command("translate")(tasks_cli.translate_cmd)
app.command("env")(env_cli.env_cmd)
app.command("finetune")(finetune_cli.finetune_cmd)
app.command("evaluate")(finetune_cli.evaluate_cmd)
app.command("plan")(plan_cli.plan_cmd)
app.add_typer(recipe_cli.app, name="recipe")
app.add_typer(models_cli.app, name="models")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Our own warnings read as one line; library chatter only with --debug."""
    from nlpkit.tasks.loading import NlpkitWarning

    if issubclass(category, NlpkitWarning):
        print(f"warning: {message}", file=sys.stderr)
    elif _state["debug"]:
        print(warnings.formatwarning(message, category, filename, lineno, line), file=sys.stderr)


def _fail(message: str, code: int) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


class _NoticeHandler(logging.Handler):
    """Writes to whatever sys.stderr is at the time (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(record.getMessage(), file=sys.stderr)


def _show_notices() -> None:
    """nlpkit's own INFO notices (a first GGUF conversion) go to stderr as plain lines."""
    logger = logging.getLogger("nlpkit")
    if not any(isinstance(h, _NoticeHandler) for h in logger.handlers):
        logger.addHandler(_NoticeHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main() -> None:
    """Console-script entry: run the app, turn NlpkitError into one line and an exit code."""
    warnings.showwarning = _show_warning
    _show_notices()
    try:
        code = _run_app()
    except NlpkitError as exc:
        if _state["debug"]:
            raise
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:
        if _state["debug"]:
            raise
        _fail(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 1)
    if code:
        _fail("interrupted", code) if code == 130 else sys.exit(code)


def _run_app() -> int:
    """Run the typer app; its usage errors become one `error:` line with a help hint."""
    from typer.exceptions import Abort, TyperException

    try:
        code = app(standalone_mode=False)
    except Abort:
        _fail("aborted", 1)
    except TyperException as exc:  # click's exceptions, as vendored by typer
        context = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":
            return 2  # typer has printed the help already
        command = context.command_path if context is not None else "nlpkit"
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        _fail(f"{message} (see `{command} --help`)", getattr(exc, "exit_code", 2))
    return code if isinstance(code, int) else 0
