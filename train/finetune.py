"""Fine-tune a ConvBert classifier on a task, from a pre-trained folder or from scratch, with a named recipe.

    python train/finetune.py --pretrained runs/my-pt --task_data my_labels.csv --test_per_label 50 \\
        --output_dir runs/my-ft          # a text,label CSV, split per label; the recipe is runs/my-pt's
    python train/finetune.py --pretrained runs/pretrain-5k --task dbpedia_14 --task_data sample:dbpedia_14 \\
        --train_per_label 30 --test_per_label 100 --seed 0 --output_dir runs/ft-5k-seed0
    python train/finetune.py --scratch --preset bert-6 --task ag_news ... --output_dir runs/ft-scratch-seed0
    python train/finetune.py ... --save_strategy epoch --output_dir runs/ft-5k-seed0 --resume  # after an interruption

The run is `tlm_hf.training.finetuning.finetune`, this command `tlm finetune`; `--help` lists every setting.
--output_dir receives the classifier and tokenizer, results.json and run_config.json.
"""

from tlm_hf.commands.finetune import main

if __name__ == "__main__":
    main()
