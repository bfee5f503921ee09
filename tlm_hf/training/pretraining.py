"""The pre-training run: MLM on W_s paragraphs with a named recipe, through Trainer, into one run folder.

`pretrain` takes the typed settings (`tlm_hf.settings.PRETRAIN_SETTINGS` and Trainer's arguments) and returns
what it writes to pretraining_stats.json; `tlm pretrain` and train/pretrain.py are its command line
(`tlm_hf.commands.pretrain`).
"""

from dataclasses import replace
from pathlib import Path

import torch
from transformers import Trainer, TrainerState, TrainingArguments, set_seed

from ..data.bytes import as_byte_tokenizer
from ..data.corpus import split_heldout
from ..data.tokenizer import train_wordpiece
from ..errors import SettingsError
from ..evaluation.blimp import DEFAULT_VARIANT, blimp_metrics, evaluate_blimp, load_blimp
from ..hub.publish import push_run, take_over_trainer_push
from ..models.modeling_conv_bert import ConvBertForMaskedLM
from .choices import pretraining_choices, trained_vocabulary
from .mlm import (
    context_gain_verdict,
    heldout_metrics,
    masked_heldout,
    per_token_predictions,
    pretraining_collator,
    pretraining_stats,
    tokenize_paragraphs,
)
from .plan import RunPlan
from .runs import claim_run_dir, evaluations_to_the_end, resume_checkpoint, run_config, run_train_loss, write_json

DONE_FILE = "pretraining_stats.json"  # written last: its presence marks a finished run


def pretrain(settings, subset_settings, corpus, task, model_settings, tokenizer_settings,
             args: TrainingArguments) -> dict:
    """Pre-train as the settings say (the dataclasses of `tlm_hf.settings.PRETRAIN_SETTINGS` and Trainer's
    arguments) into `args.output_dir`; returns what pretraining_stats.json holds. Raises a UserError for input
    that cannot be run, before the run folder is claimed."""
    # -- the run's threads, seed, tokenizer and model config; its folder and checkpoint ---------------------------
    if settings.threads:  # fixed per run by experiments, so that running several at once changes no number
        torch.set_num_threads(settings.threads)
    set_seed(args.seed)
    # With --wordpiece_vocab_size the vocabulary is trained on W_s below; --tokenizer then only serves to choose
    # custom/avoid subsets, which are defined by the task's tokens.
    trains_vocabulary = bool(settings.wordpiece_vocab_size)
    tokenizer = None if trains_vocabulary and subset_settings.subset == "random" else tokenizer_settings.load()
    config = None if trains_vocabulary else model_settings.config(tokenizer)  # vocabulary, special ids: the tokenizer's
    run_dir = Path(args.output_dir)
    args.output_dir = str(run_dir / "checkpoints")
    checkpoint = resume_checkpoint(args.output_dir, settings.resume)  # the newest complete checkpoint
    push_to_hub = take_over_trainer_push(args)  # the run folder is pushed at the end, with its card

    # -- data: held-out paragraphs, the W_s paragraphs (never the held-out ones), statistics, MLM inputs ------
    with args.main_process_first(desc="pre-training data"):
        task_data = task.load() if task.task else None
        paragraphs = corpus.load(num_proc=settings.num_proc)
        heldout = None
        if settings.heldout_where:
            heldout = replace(corpus, corpus_where=settings.heldout_where).load(num_proc=settings.num_proc)
            heldout = heldout.shuffle(seed=subset_settings.subset_seed).select(
                range(min(settings.heldout_size, len(heldout))))
        elif settings.heldout_size:
            paragraphs, heldout = split_heldout(paragraphs, settings.heldout_size, subset_settings.subset_seed)
        subset = subset_settings.build(paragraphs, task_data, tokenizer, num_proc=settings.num_proc)
        if settings.wordpiece_vocab_size:
            tokenizer = train_wordpiece(subset, settings.wordpiece_vocab_size)
            config = model_settings.config(tokenizer)  # the tokenizer takes the model's maximum length there
        byte_level = config.input_mode == "bytes"  # STLM's byte-level input: the tokenizer also gives each token's bytes
        if byte_level:
            tokenizer = as_byte_tokenizer(tokenizer, config.max_token_bytes)
        stats, counts = pretraining_stats(subset, task_data, tokenizer, num_proc=settings.num_proc)
        train_data = tokenize_paragraphs(subset, tokenizer, max_length=model_settings.max_length,
                                         num_proc=settings.num_proc)
        eval_data = None if heldout is None else masked_heldout(heldout, tokenizer, max_length=model_settings.max_length,
                                                                byte_level=byte_level)
    if eval_data is None:
        args.eval_strategy = "no"
    blimp_pairs = None  # BLiMP minimal pairs, scored at every held-out evaluation and at the end
    if settings.blimp_pairs_per_paradigm:
        if byte_level:
            raise SettingsError("blimp_pairs_per_paradigm scores token-level models only (this one is byte-level, "
                                "input_mode='bytes'); set --blimp_pairs_per_paradigm 0")
        blimp_pairs = load_blimp(pairs_per_paradigm=settings.blimp_pairs_per_paradigm)
    # claimed only now, after everything that can be checked was: a refused run leaves the folder as it was
    claim_run_dir(run_dir, run_config((settings, subset_settings, corpus, task, model_settings, tokenizer_settings),
                                      args), main_process=args.should_save)
    print(pretraining_choices(settings, tokenizer_settings, args, stats))
    print(f"pre-training on W_s = {stats['W_s']:,} paragraphs (T_W = {stats['T_W']:,})")

    # -- model and training: held-out MLM loss, accuracy and context gain after every epoch ----------------------
    architecture_dropout = config.hidden_dropout_prob, config.attention_probs_dropout_prob
    if settings.pretraining_dropout is not None:  # e.g. none while pre-training, the architecture's when fine-tuning
        config.hidden_dropout_prob = config.attention_probs_dropout_prob = settings.pretraining_dropout
    model = ConvBertForMaskedLM(config)
    compute_metrics = heldout_metrics(None if byte_level else counts)
    if blimp_pairs:  # grammar appearing as the MLM leaves the plateau: eval_blimp_overall beside the context gain
        compute_metrics = blimp_metrics(compute_metrics, model, tokenizer, blimp_pairs)
    trainer = Trainer(
        model=model, args=args, train_dataset=train_data, eval_dataset=eval_data, processing_class=tokenizer,
        data_collator=pretraining_collator(tokenizer, settings.mlm_probability, byte_level=byte_level),
        compute_metrics=compute_metrics, preprocess_logits_for_metrics=per_token_predictions,
        callbacks=[RunPlan("pre-training", also_trained=trained_vocabulary(settings, stats))],
    )
    resumed_at = TrainerState.load_from_json(f"{checkpoint}/trainer_state.json").global_step if checkpoint else 0
    result = trainer.train(resume_from_checkpoint=checkpoint)
    heldout_stats = {}
    if eval_data is not None:
        evaluations = evaluations_to_the_end(trainer, "eval_mlm_loss")
        final = evaluations[-1]
        heldout_stats = {
            "heldout_paragraphs": len(eval_data), "heldout_source": settings.heldout_where or "drawn outside W_s",
            **{f"heldout_{name}": final[f"eval_{name}"] for name in ("mlm_loss", "perplexity", "accuracy", "masked_tokens")},
            "unigram_loss": final.get("eval_unigram_loss"), "context_gain": final.get("eval_context_gain"),
            "heldout_per_epoch": [{"epoch": entry["epoch"], "mlm_loss": entry["eval_mlm_loss"],
                                   "accuracy": entry["eval_accuracy"], "context_gain": entry.get("eval_context_gain"),
                                   "blimp_overall": entry.get("eval_blimp_overall")}
                                  for entry in evaluations],
        }
        against_unigram = "" if byte_level else (f" (unigram {final['eval_unigram_loss']:.3f}, context gain "
                                                 f"{final['eval_context_gain']:+.3f})")
        print(f"held-out MLM loss {final['eval_mlm_loss']:.3f}{against_unigram}, "
              f"masked {'byte' if byte_level else 'token'} accuracy {final['eval_accuracy']:.3f}")
        if not byte_level:
            print(context_gain_verdict(final.get("eval_context_gain"), recipe=settings.recipe))

    blimp_stats = {}
    if blimp_pairs:  # the last held-out evaluation's score, or (without held-out evaluation) the final model's
        blimp = final.get("eval_blimp_overall") if eval_data is not None else None
        blimp = evaluate_blimp(model, tokenizer, blimp_pairs)["overall"] if blimp is None else blimp
        blimp_stats = {"blimp_overall": blimp, "blimp_pairs": len(blimp_pairs), "blimp_variant": DEFAULT_VARIANT}
        print(f"BLiMP {100 * blimp:.1f}% on {len(blimp_pairs):,} minimal pairs (chance 50%)")

    # -- save: model + tokenizer, then the statistics (written last: their presence marks a finished run) ---
    model.config.hidden_dropout_prob, model.config.attention_probs_dropout_prob = architecture_dropout
    trainer.save_model(str(run_dir))
    results = {
        "corpus": corpus.corpus, "corpus_where": corpus.corpus_where, "subset": subset_settings.subset,
        "seed": subset_settings.subset_seed, "task": task.task, **stats, **heldout_stats, **blimp_stats,
        "train_loss": run_train_loss(trainer.state.log_history),  # the whole run's, resumed parts included
        "global_step": trainer.state.global_step, "train_runtime_s": round(result.metrics["train_runtime"], 1),
        "timed_steps": trainer.state.global_step - resumed_at,  # train_runtime_s covers this process's steps only
        "parameters": model.num_parameters(),
    }
    if trainer.is_world_process_zero():
        write_json(run_dir / DONE_FILE, results)
        if push_to_hub:
            print(f"pushed {run_dir} with its model card: {push_run(run_dir, args)}")
    return results

