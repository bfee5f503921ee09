"""Fine-tune a ConvBert classifier on a task, from a pre-trained folder or from scratch, with a named recipe.

    python train/finetune.py --pretrained runs/my-pt --task_data my_labels.csv --test_per_label 50 \\
        --output_dir runs/my-ft          # a text,label CSV, split per label; the recipe is runs/my-pt's
    python train/finetune.py --pretrained runs/pretrain-5k --task dbpedia_14 --task_data sample:dbpedia_14 \\
        --train_per_label 30 --test_per_label 100 --seed 0 --output_dir runs/ft-5k-seed0
    python train/finetune.py --scratch --preset bert-6 --task ag_news ... --output_dir runs/ft-scratch-seed0
    python train/finetune.py ... --save_strategy epoch --output_dir runs/ft-5k-seed0 --resume  # after an interruption

"Without pre-training" is the same architecture randomly initialised (--scratch; with --pretrained the
architecture and tokenizer are read from that folder). Test accuracy is measured after every epoch and the
final model's is reported; --output_dir receives the classifier and tokenizer, results.json and run_config.json.
With --push_to_hub (and --hub_model_id ORG/NAME, default the folder's name) the finished folder is
published with its model card, as `tlm publish` does; the token is checked before training starts.
"""

import sys
from pathlib import Path

import torch
from transformers import set_seed

from tlm_hf.arguments import parse_settings
from tlm_hf.errors import MissingFileError, UserError
from tlm_hf.hub.publish import push_run, take_over_trainer_push
from tlm_hf.settings import FINETUNE_SETTINGS
from tlm_hf.training.choices import finetuning_choices
from tlm_hf.training.finetuning import (
    accuracy_line,
    classifier_start,
    fine_tune,
    fine_tune_selecting_lr,
    make_classifier,
)
from tlm_hf.training.runs import claim_run_dir, model_folder_config, resume_checkpoint, run_config, write_json


def main(argv=None):
    """The run, from the command line (or `argv`); a user's mistake ends it with one line naming the fix."""
    # -- settings: the recipe (--recipe, default paper), then the YAML file (--config), then the command line -------
    try:
        settings, task, model_settings, tokenizer_settings, args = parse_settings(
            FINETUNE_SETTINGS, argv, stage="finetuning", required=("output_dir",)
        )
        if settings.threads:  # fixed per run by experiments, so that running several at once changes no number
            torch.set_num_threads(settings.threads)
        set_seed(args.seed)
        try:
            tokenizer = tokenizer_settings.load(default=settings.pretrained or "bert-base-uncased")
        except MissingFileError:
            if settings.pretrained and not tokenizer_settings.tokenizer:  # blame the folder, not its tokenizer
                model_folder_config(settings.pretrained, role="--pretrained", weights=False)
            raise
        task_data = task.load()

        # checked once (scratch: the architecture of the pre-trained folder, or of the preset, random weights)
        start = classifier_start(tokenizer, pretrained=settings.pretrained, scratch=settings.scratch,
                                 model_settings=model_settings)

        def make_model():
            return make_classifier(start, task_data)

        model = make_model()  # built before the run folder is claimed, so a bad architecture fails first
        run_dir = Path(args.output_dir)
        checkpoint = resume_checkpoint(run_dir / "checkpoints", settings.resume)  # the newest complete one
        push_to_hub = take_over_trainer_push(args)  # the run folder is pushed at the end, with its card
        # claimed only now, after everything that can be checked was: a refused run leaves the folder as it was
        claim_run_dir(run_dir, run_config((settings, task, model_settings, tokenizer_settings), args),
                      main_process=args.should_save)
    except UserError as err:  # anything else is a bug: its traceback stays
        sys.exit(f"finetune.py: error: {err}")
    print(finetuning_choices(settings, task, task_data, args))

    # -- training: test accuracy after every epoch, or (with learning_rates) the learning rate chosen on the
    # validation split and the chosen model's test accuracy ---------------------------------------------------------
    args.output_dir = str(run_dir / "checkpoints")
    if settings.learning_rates:
        trainer, summary = fine_tune_selecting_lr(make_model, tokenizer, task_data, args, settings.learning_rates,
                                                  max_length=model_settings.max_length)
    else:
        trainer, summary = fine_tune(model, tokenizer, task_data, args, max_length=model_settings.max_length,
                                     resume_from_checkpoint=checkpoint)

    # -- save: classifier + tokenizer, then results.json (written last: its presence marks a finished run) -----
    trainer.save_model(str(run_dir))
    if trainer.is_world_process_zero():
        write_json(run_dir / "results.json", {
            "task": task.task, "arm": "scratch" if settings.scratch else "pretrained",
            "pretrained_from": None if settings.scratch else settings.pretrained, "seed": args.seed, **summary,
            "train_size": len(task_data["train"]), "test_size": len(task_data["test"]),
            "validation_size": len(task_data["validation"]) if "validation" in task_data else 0,
            "num_labels": model.config.num_labels, "learning_rate": summary.get("learning_rate", args.learning_rate),
            "weight_decay": args.weight_decay, "num_train_epochs": args.num_train_epochs,
            "batch_size": args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size,
            "architecture": {k: getattr(model.config, k) for k in (
                "hidden_size", "num_hidden_layers", "num_attention_heads", "num_conv_layers", "vocab_size")},
        })
        print(accuracy_line(summary))
        if push_to_hub:
            print(f"pushed {run_dir} with its model card: {push_run(run_dir, args)}")


if __name__ == "__main__":
    main()
