"""MLM pre-training of a ConvBert (BERT-6 or BERT-1) on W_s paragraphs, with a named recipe, through Trainer.

    python train/pretrain.py --preset bert-6 --w_s 5000 --corpus ../shared/data/wikitext2/paragraphs.jsonl.gz \
        --corpus_where split=train --normalize_wikitext --tokenizer ../shared/data/bert-base-uncased \
        --output_dir runs/pretrain-5k
    accelerate launch train/pretrain.py --config my.yaml --output_dir runs/pretrain   # any number of devices
    python train/pretrain.py --config my.yaml --output_dir runs/pretrain --resume      # after an interruption

Writes to --output_dir: the model and tokenizer (save_pretrained), pretraining_stats.json (W_s, T_W and,
with a task, T_C and T_M), run_config.json, and Trainer checkpoints under checkpoints/.
With --push_to_hub (and --hub_model_id ORG/NAME, default the folder's name) the finished folder is
published with its model card, as `tlm publish` does; the token is checked before training starts.
"""

import sys
from pathlib import Path

from transformers import Trainer, set_seed
from transformers.trainer_utils import get_last_checkpoint

from tlm_hf import ConvBertForMaskedLM
from tlm_hf.arguments import parse_settings
from tlm_hf.hub.publish import PublishError, push_run, take_over_trainer_push
from tlm_hf.settings import PRETRAIN_SETTINGS, SettingsError
from tlm_hf.training.mlm import mlm_collator, pretraining_stats, tokenize_paragraphs
from tlm_hf.training.runs import claim_run_dir, run_config, write_json

# -- settings: the recipe (--recipe, default paper), then the YAML file (--config), then the command line -------
try:
    settings, subset_settings, corpus, task, model_settings, tokenizer_settings, args = parse_settings(
        PRETRAIN_SETTINGS, stage="pretraining", required=("output_dir",)
    )
    set_seed(args.seed)
    tokenizer = tokenizer_settings.load()
    config = model_settings.config(tokenizer)  # vocabulary and special token ids from the tokenizer
    run_dir = Path(args.output_dir)
    args.output_dir = str(run_dir / "checkpoints")
    checkpoint = None
    if settings.resume:
        checkpoint = get_last_checkpoint(args.output_dir) if Path(args.output_dir).is_dir() else None
        if checkpoint is None:
            raise SettingsError(f"--resume: no checkpoint in {args.output_dir}; run without --resume to start afresh")
    claim_run_dir(run_dir, run_config((settings, subset_settings, corpus, task, model_settings, tokenizer_settings),
                                      args), write=args.should_save)
    push_to_hub = take_over_trainer_push(args)  # the run folder is pushed at the end, with its card

    # -- data: the W_s paragraphs, their token statistics, MLM inputs ------------------------------------
    with args.main_process_first(desc="pre-training data"):
        task_data = task.load() if task.task else None
        paragraphs = corpus.load(num_proc=settings.num_proc)
        subset = subset_settings.build(paragraphs, task_data, tokenizer, num_proc=settings.num_proc)
        stats = pretraining_stats(subset, task_data, tokenizer, num_proc=settings.num_proc)
        train_data = tokenize_paragraphs(subset, tokenizer, max_length=model_settings.max_length,
                                         num_proc=settings.num_proc)
except (SettingsError, PublishError, ValueError, FileNotFoundError) as err:
    sys.exit(f"pretrain.py: error: {err}")
print(f"pre-training on W_s = {stats['W_s']:,} paragraphs (T_W = {stats['T_W']:,})")

# -- model and training ---------------------------------------------------------------------------------
model = ConvBertForMaskedLM(config)
trainer = Trainer(
    model=model, args=args, train_dataset=train_data, processing_class=tokenizer,
    data_collator=mlm_collator(tokenizer, settings.mlm_probability),
)
result = trainer.train(resume_from_checkpoint=checkpoint)

# -- save: model + tokenizer, then the statistics (written last: their presence marks a finished run) ---
trainer.save_model(str(run_dir))
if trainer.is_world_process_zero():
    write_json(run_dir / "pretraining_stats.json", {
        "corpus": corpus.corpus, "corpus_where": corpus.corpus_where, "subset": subset_settings.subset,
        "seed": subset_settings.subset_seed, "task": task.task, **stats, "train_loss": result.training_loss,
        "global_step": trainer.state.global_step,
    })
    if push_to_hub:
        print(f"pushed {run_dir} with its model card: {push_run(run_dir, args)}")
