"""MLM pre-training of a ConvBert (BERT-6 or BERT-1) on W_s paragraphs, with a named recipe, through Trainer.

    python train/pretrain.py --preset tiny --recipe fast --corpus my_text.txt --output_dir runs/my-pt
    python train/pretrain.py --preset bert-6 --w_s 5000 --corpus sample:wikitext2 --corpus_where split=train \\
        --normalize_wikitext --tokenizer sample:bert-base-uncased --output_dir runs/pretrain-5k
    accelerate launch train/pretrain.py --config my.yaml --output_dir runs/pretrain   # any number of devices
    python train/pretrain.py --config my.yaml --output_dir runs/pretrain --resume      # after an interruption

The run is `tlm_hf.training.pretraining.pretrain`, this command `tlm pretrain`; `--help` lists every setting.
Writes to --output_dir: the model and tokenizer, pretraining_stats.json (W_s, T_W and, with a task, T_C and
T_M), run_config.json, and Trainer checkpoints under checkpoints/.
"""

from tlm_hf.commands.pretrain import main

if __name__ == "__main__":
    main()
