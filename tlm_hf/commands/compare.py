"""Variants of one experiment row, side by side: the recipe study and the Super Tiny Language Models table.

    tlm compare --config train/configs/stlm.yaml --variants train/configs/compare/recipe.yaml \
        --output_dir runs/compare-dbpedia
    tlm compare --config train/configs/stlm.yaml --variants train/configs/compare/stlm.yaml \
        --output_dir runs/compare-dbpedia --jobs 2

The experiment config (e.g. stlm.yaml) gives the corpus, task, model, recipe, seeds and fine-tuning; the
variants file lists what each variant changes: `pretrain_args` (pre-training settings) and
`config_overrides` (fields of the model config, added to the experiment's), each a mapping ({mlm_probability: 0.3})
or KEY=VALUE text (mlm_probability=0.3) as in the experiment's file, with `cumulative: true` when each
variant adds to the one before. Every variant pre-trains on the same W_s paragraphs for the same number of
steps and is fine-tuned like the experiment's pre-trained arm, against its own scratch twin (same
architecture and vocabulary). Runs are cached as in `tlm experiment`, under one output folder.

Writes to --output_dir: <variants file name>.json / .csv / .md (recipe.md, stlm.md), and the runs under pretrain/
and finetune/; several variants files can share one output folder, and so the runs they have in common.
"""

import sys
from pathlib import Path

from ..arguments import parse_settings
from ..errors import UserError
from ..settings import COMPARE_SETTINGS
from ..training.compare import compare


def main(argv=None, *, prog: str | None = None) -> list[dict] | None:
    """The comparison from a command line (or `argv`): a user's mistake ends it with one line naming the fix."""
    prog = prog or Path(sys.argv[0]).name
    try:
        return compare(*parse_settings(COMPARE_SETTINGS, argv, required=("output_dir", "variants"),
                                       description=__doc__, prog=prog))
    except UserError as err:
        sys.exit(f"{prog}: error: {err}")


if __name__ == "__main__":
    main()
