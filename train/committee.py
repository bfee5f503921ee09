"""Fine-tune the members of a soft committee, evaluate each alone and together: the paper's Tables 8 and 9.

    python train/committee.py --config train/configs/committee/table9.yaml --output_dir runs/table9 --jobs 2
    python train/committee.py --config train/configs/committee/table8a.yaml --output_dir runs/table8a --seed 1

The committee is `tlm_hf.training.committee.train_committee`, this command `tlm committee`; `--help` lists every
setting. Writes to --output_dir: the committee folder, results.json / .csv / .md and members/<index>-<name>/.
"""

from tlm_hf.commands.committee import main

if __name__ == "__main__":
    main()
