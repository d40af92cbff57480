"""``linkadapt`` console script: one entry point, subcommands imported on demand.

Each subcommand lives in its own module, ``linkadapt.commands.NAME``, exposing
``add_arguments(parser)``, ``run(args) -> int`` and optionally ``EXAMPLES`` (the help's
epilog). Only the chosen module is imported, so ``linkadapt serve`` never pulls in the
offline pipeline and ``linkadapt simulate`` runs without torch.
Ctrl-C ends any command with one ``interrupted`` line on stderr and exit status 130; a
closed stdout (``| head``) ends it quietly with status 141.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Final

from linkadapt import __version__
from linkadapt.config import ConfigError

GRPC_CLIENTS: Final = frozenset({"emulate"})
"""Commands whose gRPC C core is kept to errors: it logs a failed TLS handshake at INFO
on a line of its own, where the command prints one line naming the flag to fix."""
INTERRUPTED: Final = 130
"""Exit status after Ctrl-C (128 + SIGINT, as shells report it)."""
PIPE_CLOSED: Final = 141
"""Exit status when the reader of stdout went away, e.g. ``| head`` (128 + SIGPIPE)."""

# name -> one-line help; the command is the module linkadapt.commands.NAME ("-" as "_").
COMMANDS: Final[dict[str, str]] = {
    "simulate": "closed-loop link simulation of one policy, KPI table",
    "train-teacher": "train the DQN teacher with Ray rollout actors",
    "train-label-teacher": "train the teacher on full-information labels (Ray collection)",
    "distill": "distill teachers into small students (ONNX, INT8)",
    "evaluate": "compare policies on the benchmark scenarios",
    "serve": "run the xApp: gRPC + REST MCS decisions",
    "models": "manage the models of a running xApp over REST",
    "emulate": "gNB emulator against a running xApp: KPIs, SLOs",
}


def command_module(name: str) -> str:
    """The module of a subcommand: ``train-teacher`` is ``linkadapt.commands.train_teacher``."""
    return f"linkadapt.commands.{name.replace('-', '_')}"


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="linkadapt",
        description="5G NR link adaptation xApp and its offline pipeline.",
        epilog="Run 'linkadapt COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"linkadapt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, summary in COMMANDS.items():
        sub.add_parser(name, help=summary, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the chosen subcommand, return its exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        # Let argparse print usage / the unknown-command error (exit status 2).
        _top_parser().parse_args(args)
        return 2
    name, rest = args[0], args[1:]
    summary = COMMANDS[name]
    if name in GRPC_CLIENTS:  # read once, when grpc is first imported
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    try:
        module = importlib.import_module(command_module(name))
        examples = getattr(module, "EXAMPLES", None)  # kept as written, after the flags
        parser = argparse.ArgumentParser(
            prog=f"linkadapt {name}", description=summary, epilog=examples,
            formatter_class=argparse.RawDescriptionHelpFormatter if examples
            else argparse.HelpFormatter)
        module.add_arguments(parser)
        parsed = parser.parse_args(rest)
        status = int(module.run(parsed))
        sys.stdout.flush()  # here, where a closed pipe can still be told apart
        return status
    except ConfigError as exc:  # a bad flag value, named by the command's config
        print(f"linkadapt {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        # Ctrl-C is a request, not a crash: one line, no traceback. A command that knows
        # how to continue (train-teacher: its last checkpoint) says so in the exception.
        detail = str(exc)
        print(f"linkadapt {name}: interrupted" + (f"; {detail}" if detail else ""),
              file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`linkadapt models list | head -1`): stop quietly, as
        # Unix tools do. stdout now points at /dev/null so the exit flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return PIPE_CLOSED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
