"""Fine-tune the members of a soft committee, evaluate each alone and together: the paper's Tables 8 and 9.

    tlm committee --config train/configs/committee/table9.yaml --output_dir runs/table9 --jobs 2
    tlm committee --members runs/my-pt-a runs/my-pt-b --task_data my_labels.csv --output_dir runs/my-committee

Members are pre-trained MLM folders, fine-tuned from there, or with --scratch presets (or folders whose
architecture is reused) trained from a random initialisation ("without pre-training", Table 9), each alone with
its own seed (--seed + its index), --jobs members at a time; a finished member folder is reused. The members are
fine-tuned with the recipe their folders were pre-trained with, unless --recipe names another; the run says which,
with the task's columns, labels and splits, before the first member starts.

Writes to --output_dir: the committee (loadable with AutoModelForSequenceClassification or
pipeline("soft-committee-classification")), results.json / .csv / .md (each member's architecture and test
accuracy, the committee's, and the --reference run's), and members/<index>-<name>/.
"""

from ..settings import COMMITTEE_SETTINGS
from ..training.committee import train_committee
from . import run_command


def main(argv=None, *, prog: str | None = None) -> dict:
    """The command line (or `argv`) of `train_committee`."""
    # the recipe's fine-tuning (--recipe, else the one the member folders were pre-trained with, else paper),
    # then the YAML file, then the command line
    return run_command(train_committee, COMMITTEE_SETTINGS, argv, prog=prog, description=__doc__,
                       stage="finetuning", required=("output_dir",))


if __name__ == "__main__":
    main()
