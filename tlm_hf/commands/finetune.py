"""Fine-tune a ConvBert classifier on a task, from a pre-trained folder or from scratch, with a named recipe.

    tlm finetune --pretrained runs/my-pt --task_data my_labels.csv --test_per_label 50 --output_dir runs/my-ft
    tlm finetune --pretrained runs/pretrain-5k --task dbpedia_14 --task_data sample:dbpedia_14 \\
        --train_per_label 30 --test_per_label 100 --seed 0 --output_dir runs/ft-5k-seed0
    tlm finetune --scratch --preset bert-6 --task ag_news ... --output_dir runs/ft-scratch-seed0
    tlm finetune ... --save_strategy epoch --output_dir runs/ft-5k-seed0 --resume   # after an interruption

"Without pre-training" is the same architecture randomly initialised (--scratch; with --pretrained the
architecture and tokenizer are read from that folder). --output_dir receives the classifier and tokenizer,
results.json and run_config.json. With --push_to_hub (and --hub_model_id ORG/NAME, default the folder's name)
the finished folder is published with its model card, as `tlm publish` does.
"""

from ..settings import FINETUNE_SETTINGS
from ..training.finetuning import finetune
from . import run_command


def main(argv=None, *, prog: str | None = None) -> dict:
    """The command line (or `argv`) of `finetune`."""
    return run_command(finetune, FINETUNE_SETTINGS, argv, prog=prog, description=__doc__,
                       stage="finetuning", required=("output_dir",))


if __name__ == "__main__":  # accelerate launch -m tlm_hf.commands.finetune ...
    main()
