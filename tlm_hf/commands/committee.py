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

import sys
from pathlib import Path

from ..arguments import parse_settings
from ..errors import UserError
from ..settings import COMMITTEE_SETTINGS
from ..training.committee import train_committee


def main(argv=None, *, prog: str | None = None) -> dict:
    """The committee from a command line (or `argv`): a user's mistake ends it with one line naming the fix."""
    prog = prog or Path(sys.argv[0]).name
    try:
        # the recipe's fine-tuning (--recipe, else the one the member folders were pre-trained with, else paper),
        # then the YAML file, then the command line
        return train_committee(*parse_settings(COMMITTEE_SETTINGS, argv, stage="finetuning", required=("output_dir",),
                                               description=__doc__, prog=prog))
    except UserError as err:
        sys.exit(f"{prog}: error: {err}")


if __name__ == "__main__":
    main()
