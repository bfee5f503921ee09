"""Variants of one experiment row, side by side: the recipe study and the Super Tiny Language Models table.

    python train/compare.py --config train/configs/stlm.yaml --variants train/configs/compare/recipe.yaml \
        --output_dir runs/compare-dbpedia
    python train/compare.py --config train/configs/stlm.yaml --variants train/configs/compare/stlm.yaml \
        --output_dir runs/compare-dbpedia --jobs 2

The comparison is `tlm_hf.training.compare.compare`, this command `tlm compare`; `--help` explains the variants
file. Writes to --output_dir: <variants file name>.json / .csv / .md and the runs under pretrain/ and finetune/.
"""

from tlm_hf.commands.compare import main

if __name__ == "__main__":
    main()
