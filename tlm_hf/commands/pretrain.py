"""MLM pre-training of a ConvBert (BERT-6 or BERT-1) on W_s paragraphs, with a named recipe, through Trainer.

    tlm pretrain --preset tiny --recipe fast --corpus my_text.txt --output_dir runs/my-pt
    tlm pretrain --preset bert-6 --w_s 5000 --corpus sample:wikitext2 --corpus_where split=train \\
        --normalize_wikitext --tokenizer sample:bert-base-uncased --output_dir runs/pretrain-5k
    tlm pretrain --config my.yaml --output_dir runs/pretrain --resume      # after an interruption

Writes to --output_dir: the model and tokenizer (save_pretrained), pretraining_stats.json (W_s, T_W and,
with a task, T_C and T_M), run_config.json, and Trainer checkpoints under checkpoints/.
--push_to_hub (and --hub_model_id ORG/NAME) publishes the finished folder with its card, as `tlm publish` does.
"""

from ..settings import PRETRAIN_SETTINGS
from ..training.pretraining import pretrain
from . import run_command


def main(argv=None, *, prog: str | None = None) -> dict:
    """The command line (or `argv`) of `pretrain`."""
    return run_command(pretrain, PRETRAIN_SETTINGS, argv, prog=prog, description=__doc__,
                       stage="pretraining", required=("output_dir",))


if __name__ == "__main__":  # accelerate launch -m tlm_hf.commands.pretrain ...
    main()
