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

from ..settings import COMPARE_SETTINGS
from ..training.compare import compare
from . import run_command


def main(argv=None, *, prog: str | None = None) -> list[dict] | None:
    """The command line (or `argv`) of `compare`."""
    return run_command(compare, COMPARE_SETTINGS, argv, prog=prog, description=__doc__,
                       required=("output_dir", "variants"))


if __name__ == "__main__":
    main()
