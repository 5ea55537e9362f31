"""`python -m minidni COMMAND ...`: one module per command, each a thin layer over minidni.experiments.

    train     one network (per seed)             compare   depths x methods x seeds
    demo      backprop vs DNI vs cDNI, quickly    figures   regenerate figures/
    rnn       recurrent DNI (paper §3.1)         parallel  one stage per MPI rank
    multinet  two networks on two clocks (§3.3)  course    release to students, grade (nbgrader)

A user error (bad option value, missing file, bad shape) prints one line and exits
with status 2, without a traceback.
"""
import sys

from ..errors import UserError
from . import compare, course, demo, figures, multinet, parallel, rnn, train
from .common import Parser

COMMANDS = (train, compare, demo, figures, rnn, parallel, multinet, course)


def build_parser():
    """The `python -m minidni` parser: one subcommand per module of COMMANDS, each set to run its main."""
    parser = Parser(prog="python -m minidni",
                    description="minidni: Decoupled Neural Interfaces using Synthetic Gradients, from scratch.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv=None):
    """Parse argv (default sys.argv[1:]) and run the command; returns the exit status: the command's,
    2 after a UserError (one line on stderr), 130 after Ctrl-C."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        print(f"minidni: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("minidni: interrupted", file=sys.stderr)
        return 130
