"""MLM pre-training of a ConvBert (BERT-6 or BERT-1) on W_s paragraphs, with a named recipe, through Trainer.

    tlm pretrain --preset tiny --recipe fast --corpus my_text.txt --output_dir runs/my-pt
    tlm pretrain --preset bert-6 --w_s 5000 --corpus sample:wikitext2 --corpus_where split=train \\
        --normalize_wikitext --tokenizer sample:bert-base-uncased --output_dir runs/pretrain-5k
    tlm pretrain --config my.yaml --output_dir runs/pretrain --resume      # after an interruption

Writes to --output_dir: the model and tokenizer (save_pretrained), pretraining_stats.json (W_s, T_W and,
with a task, T_C and T_M), run_config.json, and Trainer checkpoints under checkpoints/.
--push_to_hub (and --hub_model_id ORG/NAME) publishes the finished folder with its card, as `tlm publish` does.
"""

import sys
from pathlib import Path

from ..arguments import parse_settings
from ..errors import UserError
from ..settings import PRETRAIN_SETTINGS
from ..training.pretraining import pretrain


def main(argv=None, *, prog: str | None = None) -> dict:
    """The run from a command line (or `argv`): a user's mistake ends it with one line naming the fix."""
    prog = prog or Path(sys.argv[0]).name
    try:
        return pretrain(*parse_settings(PRETRAIN_SETTINGS, argv, stage="pretraining", required=("output_dir",),
                                        description=__doc__, prog=prog))
    except UserError as err:  # anything else is a bug: its traceback stays
        sys.exit(f"{prog}: error: {err}")


if __name__ == "__main__":  # accelerate launch -m tlm_hf.commands.pretrain ...
    main()
