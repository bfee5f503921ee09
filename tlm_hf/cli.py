"""The `tlm` command line. The only module of the package that parses arguments.

Each subcommand is one `_add_<name>` function that declares its flags and one `_run_<name>`
function that calls the library; `main` wires them together.
"""

import argparse
import sys


class UserError(Exception):
    """A mistake in the user's input: printed as one line, no traceback."""


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tlm", description="Tiny Language Models toolkit.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


# --- convert-reference -------------------------------------------------------------------------


def _add_convert_reference(sub):
    p = sub.add_parser(
        "convert-reference",
        help="Convert a checkpoint made by the paper's own code into a ConvBert folder.",
    )
    p.add_argument("src", help="folder with the paper code's config.json and weights")
    p.add_argument("dst", help="output folder (loads with AutoModel... and trust_remote_code=True)")
    p.set_defaults(run=_run_convert_reference)


def _run_convert_reference(args):
    from .convert_reference import convert_reference_checkpoint

    model = convert_reference_checkpoint(args.src, args.dst)
    print(f"wrote {type(model).__name__} to {args.dst}")


_SUBCOMMANDS = [_add_convert_reference]


def main(argv=None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        args.run(args)
    except (UserError, FileNotFoundError, ValueError) as err:
        print(f"tlm {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
