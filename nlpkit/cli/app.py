"""The typer app: every command is registered here, once; errors are rendered here."""

from __future__ import annotations

import atexit
import gc
import importlib
import logging
import re
import sys
import warnings
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from nlpkit import __version__
from nlpkit.cli.render import out
from nlpkit.errors import NlpkitError
from nlpkit.tasks.table import TASKS

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


# Every command, by name: (module, function) for one command, a module's ``app`` for a
# group. Each is imported when it runs (or for the full --help), so a one-sentence
# `nlpkit classify` imports no other command's module.
COMMANDS: dict[str, tuple[str, str] | str] = {
    **{t.command: (f"nlpkit.tasks.{t.module}.command", f"{t.command}_cmd") for t in TASKS},
    "similarity": ("nlpkit.tasks.embed.command", "similarity_cmd"),
    "env": ("nlpkit.cli.env", "env_cmd"),
    "finetune": ("nlpkit.cli.finetune", "finetune_cmd"),
    "evaluate": ("nlpkit.cli.finetune", "evaluate_cmd"),
    "plan": ("nlpkit.cli.plan", "plan_cmd"),
    "tune": ("nlpkit.cli.tune", "tune_cmd"),
    "serve": ("nlpkit.cli.serve", "serve_cmd"),
    "optimize": ("nlpkit.cli.optimize", "optimize_cmd"),
    "index": "nlpkit.cli.index",
    "search": ("nlpkit.cli.search", "search_cmd"),
    "recipe": "nlpkit.cli.recipe",
    "models": "nlpkit.cli.models",
}


def _build(name: str) -> Any:
    """The click command ``name``, from its module."""
    source = COMMANDS[name]
    if isinstance(source, str):
        group = importlib.import_module(source).app
        group.rich_markup_mode = None
        for info in group.registered_commands:
            info.cls = HelpCommand if info.cls in (None, TyperCommand) else info.cls
        return typer.main.get_group(group)
    module, function = source
    single = typer.Typer(rich_markup_mode=None, add_completion=False)
    single.command(name, cls=HelpCommand)(getattr(importlib.import_module(module), function))
    return typer.main.get_command(single)


class LazyCommands(MutableMapping):
    """The root group's commands, each built on first lookup (``_build``)."""

    def __init__(self) -> None:
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = _build(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*COMMANDS, *self._built]))

    def __len__(self) -> int:
        return len(set(COMMANDS) | set(self._built))


class LazyGroup(TyperGroup):
    """The root group: its commands load lazily, listed in COMMANDS' order."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands()

    def list_commands(self, ctx) -> list[str]:
        return list(self.commands)


app.info.cls = LazyGroup


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
    # At exit Python's last garbage collection walks every object the imports made
    # (pydantic's schemas, numpy, onnxruntime): 85 ms of a one-sentence command, to free
    # memory the process is about to hand back. Frozen objects are skipped; atexit runs
    # before that collection, and only once the process ends (tests call main() often).
    atexit.unregister(gc.freeze)  # once, however often main() runs in one process
    atexit.register(gc.freeze)
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
