"""One of the paper's tables in one command: pre-train per W_s, fine-tune both arms over seeds, tabulate.

    python train/experiment.py --config train/configs/quick.yaml --output_dir runs/quick --jobs 2
    python train/experiment.py --config train/configs/table5-local.yaml --output_dir runs/t5 --seeds 0 1 2

The experiment is `tlm_hf.training.experiments.run_experiment`, this command `tlm experiment`; `--help` lists
every setting. Writes to --output_dir: results.json / .csv / .md / .png, and one folder per run under
pretrain/ and finetune/ (each with settings.yaml and log.txt).
"""

from tlm_hf.commands.experiment import main

if __name__ == "__main__":
    main()
