"""The ``accio`` command: argument parsing, dispatch, and the error edge.

Any ``AccioError`` becomes ``ERROR: <file>: <path>: <reason>`` lines on stderr and its documented
exit code (cli.md §1: 0 ok, 1 usage/not found, 2 definition, 4 runtime, 5 internal). Anything
else is an internal error (exit 5); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import io
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import NoReturn

from accio import __version__
from accio.errors import EXIT_INTERNAL, EXIT_USAGE, AccioError, UsageError

Handler = Callable[[argparse.Namespace], int]

#: The command modules (each exposes register(subparsers)) and the verbs each adds. Only the
#: module of the verb typed is imported: a command starts without the others' imports.
COMMAND_VERBS: dict[str, tuple[str, ...]] = {
    "definitions": ("validate", "expand"),
    "workflows": ("push",),
    "submit": ("submit", "wait"),
    "get": ("get", "list"),
    "describe": ("describe",),
    "logs": ("logs",),
    "kill_delete": ("kill", "delete"),
    "edit": ("edit",),
    "explain": ("explain",),
    "export": ("export",),
    "gc": ("gc",),
    "plot": ("plot",),
    "server": ("server",),
    "ui": ("ui",),
    "verify": ("verify",),
    "tune": ("tune",),
    "new": ("new",),
    "completion": ("completion",),
    "accounts": ("user", "token", "login"),
    "cluster": ("cluster",),
}
_MODULE_OF_VERB = {verb: module for module, verbs in COMMAND_VERBS.items() for verb in verbs}


def command_module(name: str) -> ModuleType:
    return importlib.import_module(f"accio.cli.commands.{name}")


# Two letters at least, so that short options with glued values (-n5) stay short options.
_SINGLE_DASH_LONG = re.compile(r"^-([a-zA-Z]{2}[a-zA-Z0-9-]*)(=.*)?$", re.DOTALL)


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises UsageError (exit 1) instead of exiting with 2."""

    _intermixing = False

    def error(self, message: str) -> NoReturn:
        command = self.prog.split()[-1]
        topic = "" if command == "accio" else f" {command}"
        raise UsageError(f"{message} (see 'accio help{topic}')")

    def _get_value(self, action: argparse.Action, arg_string: str) -> object:
        """Integers beyond 64 bits are usage errors here, not overflows in storage later."""
        value = super()._get_value(action, arg_string)
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            name = "/".join(action.option_strings) or action.dest
            self.error(f"argument {name}: {arg_string[:30]} is out of range")
        return value

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Flags and positionals mix in any order in a command (cli.md §1):
        ``accio submit wf --seed=1 eps=2``. Plain argparse stops filling ``*`` positionals at the
        first flag; ``parse_known_intermixed_args`` does not (it calls back in here, hence the
        re-entrancy guard). The top-level parser dispatches to commands, so it stays plain."""
        if self._intermixing or self._subparsers is not None:
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def normalise_flags(argv: Sequence[str]) -> list[str]:
    """Accept the original's single-dash long flags (``-name=x``, ``-tags=a,b``) as ``--name``."""
    out: list[str] = []
    ended = False
    for arg in argv:
        if ended:
            out.append(arg)
            continue
        if arg == "--":
            ended = True
            out.append(arg)
            continue
        match = _SINGLE_DASH_LONG.match(arg)
        out.append(f"-{arg}" if match else arg)
    return out


def split_cluster(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """``--cluster NAME`` / ``--cluster=NAME`` (the original's ``-cluster=NAME``, once
    normalised) taken out of ``argv``, before or after the verb; the last one wins."""
    name: str | None = None
    rest: list[str] = []
    items = iter(argv)
    for arg in items:
        if arg == "--":
            rest += [arg, *items]
            break
        if arg == "--cluster":
            name = next(items, None)
            if name is None or name.startswith("-"):
                raise UsageError("--cluster needs a cluster NAME (see 'accio cluster list')")
        elif arg.startswith("--cluster="):
            name = arg.partition("=")[2]
            if not name.strip():
                raise UsageError("--cluster needs a cluster NAME (see 'accio cluster list')")
        else:
            rest.append(arg)
    return name, rest


def build_parser(verb: str | None = None) -> ArgumentParser:
    """The whole command line, or only ``verb``'s command when it is a known one (start-up)."""
    parser = ArgumentParser(
        prog="accio",
        description="Accio: typed workflows, parameter sweeps, seeds and memoized results.",
        allow_abbrev=False,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument("--version", action="version", version=f"accio {__version__}")
    parser.add_argument(
        "--cluster",
        metavar="NAME",
        help="talk to the named server NAME ('accio cluster list'; 'local': this machine's "
        "home); default $ACCIO_CLUSTER, then $ACCIO_SERVER, then the clusters file's default",
    )
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=ArgumentParser
    )
    known = _MODULE_OF_VERB.get(verb) if verb is not None else None
    names = [known] if known is not None else list(COMMAND_VERBS)
    if verb == "":  # only top-level flags such as --version: no command is needed
        names = []
    for name in names:
        command_module(name).register(subparsers)
    help_parser = subparsers.add_parser("help", help="show help for accio or one command")
    help_parser.add_argument("topic", nargs="?", help="a command name")
    help_parser.set_defaults(handler=lambda args: _help(parser, subparsers, args))
    version_parser = subparsers.add_parser("version", help="print the version")
    version_parser.set_defaults(handler=lambda args: print(f"Client version: {__version__}") or 0)
    return parser


def _verb(argv: Sequence[str]) -> str | None:
    """The command word typed (the first argument that is not a top-level flag)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _help(
    parser: ArgumentParser,
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    args: argparse.Namespace,
) -> int:
    if args.topic is None:
        parser.print_help()
        return 0
    sub = subparsers.choices.get(args.topic)
    if sub is None:
        raise UsageError(f"unknown command {args.topic!r}; see 'accio help'")
    sub.print_help()
    return 0


def _printable_streams() -> None:
    """Names decoded from non-UTF-8 bytes (a file name in argv) print escaped, never crash."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    _printable_streams()
    from accio.cli.commands.common import start_invocation

    start_invocation()  # each invocation reads its own environment (tests call main())
    args_list = normalise_flags(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    try:
        cluster, args_list = split_cluster(args_list)
        start_invocation(cluster)
        verb = _verb(args_list)
        bare = verb is None and "--version" in args_list and "--help" not in args_list
        parser = build_parser("" if bare else verb)
        if not args_list:
            parser.print_help()
            return 0
        args = parser.parse_args(args_list)
        handler: Handler | None = getattr(args, "handler", None)
        if handler is None:
            parser.print_help()
            return EXIT_USAGE
        return handler(args)
    except AccioError as exc:
        if debug:
            traceback.print_exc()
        for line in exc.lines():
            print(f"ERROR: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ERROR: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the last line of defence: no traceback reaches a user
        if debug:
            traceback.print_exc()
        print(
            f"ERROR: internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
