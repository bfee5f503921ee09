"""Fine-tuning a ConvBert classifier on a task: tokenisation, label checks, the model, Trainer, accuracy, the run.

`finetune` is the run: typed settings (`tlm_hf.settings.FINETUNE_SETTINGS` and Trainer's arguments) in, what it
writes to results.json out; `tlm finetune` and train/finetune.py are its command line (`tlm_hf.commands.finetune`).
The soft committee fine-tunes its members with the parts:

    start = classifier_start(tokenizer, pretrained="runs/pretrain")  # checked once; scratch=True for scratch
    model = make_classifier(start, task)
    args = TrainingArguments(**recipe_defaults("paper", "finetuning"), output_dir=...)
    trainer, summary = fine_tune(model, tokenizer, task, args)
"""

import copy
import dataclasses
from pathlib import Path

import evaluate
import torch
from datasets import DatasetDict
from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments, set_seed

from ..data.tokenizer import match_tokenizer
from ..errors import MissingFileError, SettingsError
from ..hub.publish import push_run, take_over_trainer_push
from ..models.configuration_conv_bert import ConvBertConfig
from ..models.modeling_conv_bert import ConvBertForSequenceClassification
from .choices import finetuning_choices
from .plan import RunPlan
from .runs import (
    claim_run_dir,
    evaluations_to_the_end,
    load_model_folder,
    model_folder_config,
    resume_checkpoint,
    run_config,
    write_json,
)

# Config fields a fine-tuning may change on a pre-trained folder: how it is trained, pooled and run, not its
# weights' shapes. Any other config_overrides cannot apply to a folder's architecture and are refused.
FINETUNING_FIELDS = ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout", "classifier_pooling",
                     "unpad_tokens", "fast_dropout")

ACCURACY_METRIC = Path(__file__).with_name("metrics") / "accuracy.py"


def load_accuracy():
    """The accuracy metric shipped in the package, loaded by path: works offline."""
    return evaluate.load(str(ACCURACY_METRIC))


def accuracy_metrics():
    """A Trainer `compute_metrics`: accuracy of the argmax of the logits."""
    metric = load_accuracy()

    def compute_metrics(eval_pred):
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        return metric.compute(predictions=logits.argmax(-1), references=eval_pred.label_ids)

    return compute_metrics


def label_names(task: DatasetDict) -> list[str]:
    return list(task["train"].features["label"].names)


def check_labels(task: DatasetDict, num_labels: int) -> None:
    """Every label of every split must be a class of the model: 0 .. num_labels - 1."""
    for split, data in task.items():
        labels = data["label"]
        bad = next((label for label in labels if not 0 <= label < num_labels), None)
        if bad is not None:
            raise SettingsError(
                f"label {bad} in the {split} split is outside 0..{num_labels - 1} (the model has {num_labels} "
                "labels); fix the data, or give the model as many labels as the task has"
            )


def check_pretraining_folder(folder, *, role: str = "--pretrained") -> dict:
    """The config.json of a pre-trained MLM folder (written by tlm pretrain); any other folder (a fine-tuned
    classifier, a committee, a missing or corrupt file) is refused in one line saying what was given."""
    config = model_folder_config(folder, role=role)
    architectures = config.get("architectures") or []
    if config.get("model_type") != ConvBertConfig.model_type or not any(a.endswith("ForMaskedLM") for a in architectures):
        given = ", ".join(architectures) or f"model_type {config.get('model_type')!r}"
        raise SettingsError(
            f"{role} {folder} holds a {given} model; the pre-trained arm takes an MLM folder written by "
            "tlm pretrain (ConvBertForMaskedLM)"
        )
    return config


def folder_overrides(model_settings, folder, *, role: str = "--pretrained") -> dict:
    """The config_overrides of `model_settings` that can apply to the saved `folder` (FINETUNING_FIELDS, which
    are applied and so recorded truthfully in run_config.json); any other override is refused in one line."""
    if model_settings is None:
        return {}
    overrides = model_settings.overrides()
    known = {*(f.name for f in dataclasses.fields(ConvBertConfig)), *ConvBertConfig.RUN_OPTIONS}
    allowed = [name for name in FINETUNING_FIELDS if name in known]
    fixed = [key for key in overrides if key not in allowed]
    if fixed:
        raise SettingsError(
            f"config_overrides {fixed[0]}={overrides[fixed[0]]} cannot apply to {role} {folder}, whose architecture is "
            f"fixed; drop it (at fine-tuning only {', '.join(allowed)} can change)"
        )
    return overrides


@dataclasses.dataclass(frozen=True)
class ClassifierStart:
    """Where a classifier starts, checked: its config (overrides applied, the tokenizer and max_length fit it) and
    the MLM folder whose encoder it loads (`weights`; None: a random initialisation)."""

    config: ConvBertConfig
    weights: str | None = None
    role: str = "--pretrained"  # how error messages name the folder


def classifier_start(tokenizer, *, pretrained=None, scratch: bool = False, model_settings=None,
                     role: str = "--pretrained") -> ClassifierStart:
    """Check once what a classifier starts from, before anything trains: the encoder of the MLM folder `pretrained`
    (its files load, `model_settings`' overrides can apply); or, with `scratch`, a random initialisation of
    `pretrained`'s architecture (any saved model folder), or of `model_settings` (a ModelSettings) without a folder.
    The tokenizer must fit the model and takes its maximum length. Call it once per run, or per committee member."""
    if pretrained is None:
        if not scratch:
            raise SettingsError("nothing to fine-tune; give --pretrained FOLDER, or --scratch for a random initialisation")
        return ClassifierStart(model_settings.config(tokenizer), role=role)  # checks vocabulary and max_length
    if scratch:
        model_folder_config(pretrained, role=role, weights=False)
    else:
        check_pretraining_folder(pretrained, role=role)
    overrides = {**folder_overrides(model_settings, pretrained, role=role),
                 **(model_settings.run_options() if model_settings else {})}
    config = ConvBertConfig.from_pretrained(pretrained, **overrides,
                                            attn_implementation=model_settings and model_settings.attn_implementation)
    match_tokenizer(config, tokenizer)
    if model_settings is not None:
        model_settings.check_max_length(config)
    return ClassifierStart(config, weights=None if scratch else str(pretrained), role=role)


def make_classifier(start: ClassifierStart, task: DatasetDict):
    """The classifier `start` describes, with the task's labels (its ClassLabel names): the encoder loaded from
    `start.weights` with a new pooler and classifier, or every weight randomly initialised."""
    names = label_names(task)
    labels = dict(num_labels=len(names), id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
    config = ConvBertConfig.from_dict({**start.config.to_dict(), **labels},  # to_dict leaves these two out:
                                      attn_implementation=start.config._attn_implementation,
                                      **start.config.run_options())
    check_labels(task, config.num_labels)
    if start.weights is None:
        return ConvBertForSequenceClassification(config)
    return load_model_folder(ConvBertForSequenceClassification, start.weights, role=start.role, checked=True,
                             config=config)


def build_classifier(task: DatasetDict, tokenizer, *, pretrained=None, config: ConvBertConfig | None = None,
                     overrides: dict | None = None, role: str = "--pretrained"):
    """The pre-trained arm (encoder from the MLM folder `pretrained`, `overrides` such as dropout applied) or, with
    `config`, its randomly initialised twin: `classifier_start`'s checks, then `make_classifier`."""
    if (pretrained is None) == (config is None):
        raise ValueError("give exactly one of pretrained (an MLM folder) or config (to train from scratch)")
    if pretrained is None:
        match_tokenizer(config, tokenizer)
        return make_classifier(ClassifierStart(config, role=role), task)
    check_pretraining_folder(pretrained, role=role)
    folder_config = ConvBertConfig.from_pretrained(pretrained, **(overrides or {}))
    match_tokenizer(folder_config, tokenizer)
    return make_classifier(ClassifierStart(folder_config, weights=str(pretrained), role=role), task)


def initial_config(tokenizer, **start) -> ConvBertConfig:
    """`classifier_start(tokenizer, **start).config` (committee.py's pre-flight, until it keeps the start itself)."""
    return classifier_start(tokenizer, **start).config


def initial_classifier(task: DatasetDict, tokenizer, **start):
    """`make_classifier(classifier_start(tokenizer, **start), task)`: the model an arm starts from."""
    return make_classifier(classifier_start(tokenizer, **start), task)


def tokenize_task(task: DatasetDict, tokenizer, *, max_length: int = 128, num_proc=None) -> DatasetDict:
    """input_ids and label, truncated at max_length; DataCollatorWithPadding pads per batch."""

    def encode(batch):
        return tokenizer(batch["text"], truncation=True, max_length=max_length, return_token_type_ids=False,
                         return_attention_mask=False)

    return task.map(encode, batched=True, remove_columns=["text"], num_proc=num_proc, desc="Tokenising task")


def classification_trainer(model, tokenizer, task: DatasetDict, args, *, max_length: int = 128) -> Trainer:
    """A Trainer that fine-tunes on task["train"] and reports test accuracy (task["test"]) per evaluation; it says
    its plan (steps, epochs, estimated time) as training starts."""
    for split in ("train", "test"):  # torch's sampler would fail later, naming neither (num_samples=0)
        if split in task and len(task[split]) == 0:
            raise SettingsError(f"the task's {split} split is empty; give it examples (load_task checks a task's "
                                "files for this)")
    data = tokenize_task(task, tokenizer, max_length=max_length)
    return Trainer(
        model=model, args=args, train_dataset=data["train"], eval_dataset=data["test"],
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8), processing_class=tokenizer,
        compute_metrics=accuracy_metrics(), callbacks=[RunPlan("fine-tuning")],
    )


def accuracy_summary(log_history: list[dict]) -> dict:
    """Final and best-epoch test accuracy from Trainer's log history (one eval entry per epoch)."""
    evals = [entry for entry in log_history if "eval_accuracy" in entry]
    if not evals:
        raise SettingsError("no test accuracy was logged; keep eval_strategy='epoch' when fine-tuning")
    per_epoch = [entry["eval_accuracy"] for entry in evals]
    best = max(range(len(per_epoch)), key=per_epoch.__getitem__)  # the first epoch reaching the best
    return {
        "accuracy_final": per_epoch[-1],
        "accuracy_best": per_epoch[best],
        "best_epoch": round(evals[best]["epoch"]),
        "accuracy_per_epoch": per_epoch,
    }


def accuracy_line(summary: dict) -> str:
    """The fine-tune's result as one line: the final model's test accuracy, or, where the learning rate (and with
    select_epoch the epoch) was chosen on validation, the chosen model's. Never a maximum over epochs picked on the
    test split."""
    if "learning_rate_search" in summary:
        epoch = f", epoch {summary['epoch']}" if summary.get("select_epoch") else ""
        return (f"test accuracy: {summary['accuracy_final']:.4f} (learning rate {summary['learning_rate']:g}{epoch}, "
                f"chosen on validation: {summary['validation_accuracy']:.4f})")
    return f"test accuracy: {summary['accuracy_final']:.4f} (final model)"


def fine_tune(model, tokenizer, task: DatasetDict, args, *, max_length: int = 128, resume_from_checkpoint=None):
    """Train with `args` (see `tlm_hf.training.recipes`), return the Trainer and the accuracy summary."""
    trainer = classification_trainer(model, tokenizer, task, args, max_length=max_length)
    trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    evaluations_to_the_end(trainer, "eval_accuracy")  # "final" is the final model's accuracy
    return trainer, {**accuracy_summary(trainer.state.log_history), "example_text": test_example(task)}


def test_example(task: DatasetDict) -> str | None:
    """The first test example's text: the model card's usage example comes from the user's own domain."""
    return task["test"][0]["text"] if "test" in task and len(task["test"]) else None


class BestValidationEpoch(TrainerCallback):
    """Remembers the weights at the first evaluation with the best validation accuracy (a copy in memory: the
    models this package fine-tunes are small), so that the chosen epoch, not the last, is the one tested."""

    def __init__(self):
        self.accuracy, self.epoch, self.weights = None, None, None

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
        accuracy = (metrics or {}).get("eval_accuracy")
        if accuracy is not None and (self.accuracy is None or accuracy > self.accuracy):
            self.accuracy, self.epoch = accuracy, round(state.epoch or 0)
            self.weights = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def grid_edges(learning_rates, learning_rate, epoch: int, epochs: int, *, select_epoch: bool) -> list[str]:
    """Which choices sit on the edge of what was searched: the lowest or highest of several learning rates (a
    rate beyond it might do better), the last epoch when epochs were chosen (validation may still be rising)."""
    edges = []
    if len(set(learning_rates)) > 1 and learning_rate == min(learning_rates):
        edges.append("lowest learning rate")
    if len(set(learning_rates)) > 1 and learning_rate == max(learning_rates):
        edges.append("highest learning rate")
    if select_epoch and epochs > 1 and epoch >= epochs:
        edges.append("last epoch")
    return edges


def fine_tune_selecting_lr(make_model, tokenizer, task: DatasetDict, args, learning_rates, *, max_length: int = 128,
                           select_epoch: bool = False):
    """Fine-tune once per learning rate on task["train"], evaluating on task["validation"] (after every epoch,
    unless eval_strategy says otherwise); keep the model with the best validation accuracy, at its last epoch or,
    with `select_epoch`, at its best epoch, and evaluate it once on the test split. Nothing is chosen on the test
    split: its labels change no choice.

    make_model() builds the initial model (each candidate starts from the same seed), so both arms of an
    experiment get the same tuning effort. Returns the chosen Trainer and a summary in `accuracy_summary`'s
    shape (test accuracy as final and best), the chosen `learning_rate` and `epoch`, its `validation_accuracy`,
    `grid_edges` (choices on the edge of the search) and every candidate's result.
    """
    if "validation" not in task:
        raise SettingsError("choosing among learning_rates needs a validation split; set validation_per_label")
    development = DatasetDict(train=task["train"], test=task["validation"])  # per-epoch accuracy on validation
    best, candidates = None, []
    for learning_rate in learning_rates:
        candidate_args = copy.deepcopy(args)
        candidate_args.learning_rate = learning_rate
        candidate_args.output_dir = str(Path(args.output_dir) / f"lr-{learning_rate:g}")
        set_seed(args.seed)
        keeper = BestValidationEpoch()
        trainer = classification_trainer(make_model(), tokenizer, development, candidate_args, max_length=max_length)
        if select_epoch:
            trainer.add_callback(keeper)
        trainer.train()
        evaluations_to_the_end(trainer, "eval_accuracy")  # the last epoch's, when no evaluation ran at the end
        summary = accuracy_summary(trainer.state.log_history)
        last_epoch = round(trainer.state.epoch)
        accuracy, epoch = (keeper.accuracy, keeper.epoch) if select_epoch else (summary["accuracy_final"], last_epoch)
        candidates.append({"learning_rate": learning_rate, "validation_accuracy": accuracy, "epoch": epoch,
                           "validation_per_epoch": summary["accuracy_per_epoch"]})
        if best is None or accuracy > best["validation_accuracy"]:
            best = {"trainer": trainer, "keeper": keeper, "validation_accuracy": accuracy, "epoch": epoch,
                    "learning_rate": learning_rate, "epochs": last_epoch}
    trainer = best["trainer"]
    if select_epoch:
        trainer.model.load_state_dict(best["keeper"].weights)
    test = tokenize_task(DatasetDict(test=task["test"]), tokenizer, max_length=max_length)["test"]
    accuracy = trainer.evaluate(test, metric_key_prefix="test")["test_accuracy"]
    return trainer, {
        "accuracy_final": accuracy, "accuracy_best": accuracy, "best_epoch": best["epoch"],
        "accuracy_per_epoch": [accuracy], "learning_rate": best["learning_rate"], "epoch": best["epoch"],
        "validation_accuracy": best["validation_accuracy"], "select_epoch": select_epoch,
        "grid_edges": grid_edges(learning_rates, best["learning_rate"], best["epoch"], best["epochs"],
                                 select_epoch=select_epoch),
        "learning_rate_search": candidates, "example_text": test_example(task),
    }


# --- the run ---------------------------------------------------------------------------------------------------

DONE_FILE = "results.json"  # written last: its presence marks a finished run


def finetune(settings, task, model_settings, tokenizer_settings, args: TrainingArguments) -> dict:
    """Fine-tune as the settings say (the dataclasses of `tlm_hf.settings.FINETUNE_SETTINGS` and Trainer's
    arguments) into `args.output_dir`; returns what results.json holds. Raises a UserError for input that cannot
    be run, before the run folder is claimed."""
    # -- the run's threads, seed, tokenizer, task and starting model; its folder -----------------------------------
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
    print(finetuning_choices(settings, task, task_data, args))

    # -- training: test accuracy after every epoch, or (with learning_rates) the learning rate chosen on the
    # validation split and the chosen model's test accuracy ---------------------------------------------------------
    args.output_dir = str(run_dir / "checkpoints")
    if settings.learning_rates:
        trainer, summary = fine_tune_selecting_lr(make_model, tokenizer, task_data, args, settings.learning_rates,
                                                  max_length=model_settings.max_length,
                                                  select_epoch=settings.select_epoch)
    else:
        trainer, summary = fine_tune(model, tokenizer, task_data, args, max_length=model_settings.max_length,
                                     resume_from_checkpoint=checkpoint)

    # -- save: classifier + tokenizer, then results.json (written last: its presence marks a finished run) -----
    trainer.save_model(str(run_dir))
    results = {
        "task": task.task, "arm": "scratch" if settings.scratch else "pretrained",
        "pretrained_from": None if settings.scratch else settings.pretrained, "seed": args.seed, **summary,
        "train_size": len(task_data["train"]), "test_size": len(task_data["test"]),
        "validation_size": len(task_data["validation"]) if "validation" in task_data else 0,
        "num_labels": model.config.num_labels, "learning_rate": summary.get("learning_rate", args.learning_rate),
        "weight_decay": args.weight_decay, "num_train_epochs": args.num_train_epochs,
        "batch_size": args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size,
        "architecture": {k: getattr(model.config, k) for k in (
            "hidden_size", "num_hidden_layers", "num_attention_heads", "num_conv_layers", "vocab_size")},
    }
    if trainer.is_world_process_zero():
        write_json(run_dir / DONE_FILE, results)
        print(accuracy_line(summary))
        if push_to_hub:
            print(f"pushed {run_dir} with its model card: {push_run(run_dir, args)}")
    return results

