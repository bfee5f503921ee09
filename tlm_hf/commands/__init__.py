"""The command lines: each module parses one command's settings, calls the library and prints; `tlm` and the
scripts in train/ are these commands under other names."""

import sys
from pathlib import Path

from ..arguments import parse_settings
from ..errors import UserError


def run_command(run, types, argv, *, prog: str | None, description: str, **parse):
    """`run` on the settings `types` parsed from a command line (or `argv`): a user's mistake ends it with one line
    naming the fix; anything else is a bug, and its traceback stays."""
    prog = prog or Path(sys.argv[0]).name
    try:
        return run(*parse_settings(types, argv, description=description, prog=prog, **parse))
    except UserError as err:
        sys.exit(f"{prog}: error: {err}")
