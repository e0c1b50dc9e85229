"""The typer app: every command is registered here, once; errors are rendered here."""

from __future__ import annotations

import importlib
import logging
import re
import sys
import warnings
from collections.abc import Sequence

import typer
from typer.core import TyperCommand

from nlpkit import __version__
from nlpkit.cli import env as env_cli
from nlpkit.cli import finetune as finetune_cli
from nlpkit.cli import models as models_cli
from nlpkit.cli import optimize as optimize_cli
from nlpkit.cli import plan as plan_cli
from nlpkit.cli import recipe as recipe_cli
from nlpkit.cli import serve as serve_cli
from nlpkit.cli import tune as tune_cli
from nlpkit.cli.render import out
from nlpkit.errors import NlpkitError
from nlpkit.tasks.table import TASKS, Task

app = typer.Typer(
    name="nlpkit",
    help="Hugging Face models as everyday NLP tools: "
    + ", ".join(task.command for task in TASKS)
    + ", fine-tune.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain click help: never cuts an option name at 80 columns
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
_state = {"debug": False}


def _version_callback(value: bool) -> None:
    if value:
        out.result(f"nlpkit {__version__}")
        raise typer.Exit()


def _debug_callback(ctx: typer.Context, value: bool) -> None:
    """The root's value resets the flag on each run; after a command it may only turn it on."""
    if value or ctx.parent is None:
        _state["debug"] = value
    if value:  # library warnings and log lines pass through (nlpkit.models.load)
        logging.getLogger("nlpkit").setLevel(logging.DEBUG)


@app.callback()
def root(
    debug: bool = typer.Option(
        False,
        "--debug",
        callback=_debug_callback,
        expose_value=False,  # read through _state, so every command can share this option
        is_eager=True,
        help="Show full tracebacks and library warnings.",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    """Hugging Face models as everyday NLP tools."""


# Readable value names for typer's type labels (`<int range>` -> N); flags show none.
_VALUE_NAMES = {"str": "TEXT", "int": "N", "int range": "N", "float": "NUMBER", "path": "PATH"}
_VALUE_NAMES.update({"float range": "NUMBER", "file": "FILE", "directory": "DIR"})


class HelpCommand(TyperCommand):
    """Plain help, options grouped under their rich_help_panel, with readable value names;
    the root's --debug is taken after the command too (`nlpkit classify - --debug`)."""

    def get_params(self, ctx) -> list:
        root = ctx.find_root().command
        shared = [p for p in root.params if p.name == "debug"] if root is not self else []
        return [*super().get_params(ctx), *shared]

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = param.metavar or param.name.upper()
                name = name if param.required else f"[{name}]"
                pieces.append(name + "..." * (param.nargs != 1))
        return pieces

    def format_options(self, ctx, formatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            name, text = record
            if param.param_type_name == "argument":
                title = "Arguments"
                name = (param.metavar or param.name.upper()) + "..." * (param.nargs != 1)
            else:
                title = getattr(param, "rich_help_panel", None) or "Options"
                name = re.sub(r"<([^<>]*)>", lambda m: _VALUE_NAMES.get(m[1], m[1]), name)
            sections.setdefault(title, []).append((name, text))
        for title in sorted(sections, key=lambda t: (t != "Arguments", t != "Options")):
            with formatter.section(title):
                formatter.write_dl(sections[title])


def _task_command(task: Task):
    """The task's CLI face, ``<command>_cmd`` in its own package's ``command.py``."""
    module = importlib.import_module(f"nlpkit.tasks.{task.module}.command")
    return getattr(module, f"{task.command}_cmd")


# each task's command (from the task table), then the others
for _name, _command in [
    *((task.command, _task_command(task)) for task in TASKS),
    ("env", env_cli.env_cmd),
    ("finetune", finetune_cli.finetune_cmd),
    ("evaluate", finetune_cli.evaluate_cmd),
    ("plan", plan_cli.plan_cmd),
    ("tune", tune_cli.tune_cmd),
    ("serve", serve_cli.serve_cmd),
    ("optimize", optimize_cli.optimize_cmd),
]:
    app.command(_name, cls=HelpCommand)(_command)
for _name, _group in [("recipe", recipe_cli.app), ("models", models_cli.app)]:
    _group.rich_markup_mode = None
    for _info in _group.registered_commands:
        _info.cls = HelpCommand if _info.cls in (None, TyperCommand) else _info.cls
    app.add_typer(_group, name=_name)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Our own warnings read as one line; library chatter only with --debug."""
    from nlpkit.errors import NlpkitWarning

    if issubclass(category, NlpkitWarning):
        text = with_flags(str(message), getattr(message, "params", ()))
        out.warn(text)
    elif _state["debug"]:
        out.note(warnings.formatwarning(message, category, filename, lineno, line))


def with_flags(message: str, params: Sequence[str]) -> str:
    """A library message in the CLI's words: ``max_new_tokens`` -> ``--max-new-tokens``,
    ``device='cpu'`` -> ``--device cpu``, ``chat=False`` -> ``--no-chat``, ``model=`` ->
    ``--model``. Only the arguments the error names in ``params`` are rewritten."""
    for param in params:
        flag = "--" + param.replace("_", "-")
        name = rf"(?<![\w.-]){re.escape(param)}"

        def spelled(match: re.Match, flag: str = flag) -> str:
            value = match[1].strip("'\"")
            return {"True": flag, "False": f"--no-{flag[2:]}"}.get(value, f"{flag} {value}")

        message, valued = re.subn(name + r"=('[^']*'|\"[^\"]*\"|[^\s,;:)'\"]+)", spelled, message)
        message, bare = re.subn(name + r"=(?=[\s,;:).]|$)", flag, message)
        if not valued and not bare:
            message = re.sub(name + r"(?![\w-])", flag, message, count=1)
    return message


def _fail(message: str, code: int) -> None:
    out.error(message)
    sys.exit(code)


class _NoticeHandler(logging.Handler):
    """Writes to whatever sys.stderr is at the time (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        out.note(record.getMessage())


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
        _fail(with_flags(str(exc), exc.params), exc.exit_code)
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
