"""Fine-tuning a ConvBert classifier on a task: tokenisation, label checks, the model, Trainer, accuracy.

`train/finetune.py` is the script around these; the soft committee fine-tunes its members with them too:

    model = build_classifier(task, tokenizer, pretrained="runs/pretrain")      # or config=... for scratch
    args = TrainingArguments(**recipe_defaults("paper", "finetuning"), output_dir=...)
    trainer, summary = fine_tune(model, tokenizer, task, args)
"""

from pathlib import Path

import evaluate
from datasets import DatasetDict
from transformers import DataCollatorWithPadding, Trainer

from ..data.tokenizer import check_vocabulary
from ..errors import SettingsError
from ..models.configuration_conv_bert import ConvBertConfig
from ..models.modeling_conv_bert import ConvBertForSequenceClassification

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


def build_classifier(task: DatasetDict, tokenizer, *, pretrained=None, config: ConvBertConfig | None = None):
    """The pre-trained arm (encoder from the MLM folder `pretrained`, new pooler and classifier) or, with
    `config`, the randomly initialised twin. Labels come from the task's ClassLabel names."""
    if (pretrained is None) == (config is None):
        raise ValueError("give exactly one of pretrained (an MLM folder) or config (to train from scratch)")
    names = label_names(task)
    labels = dict(num_labels=len(names), id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
    if pretrained is not None:
        model = ConvBertForSequenceClassification.from_pretrained(pretrained, **labels)
    else:
        model = ConvBertForSequenceClassification(ConvBertConfig.from_dict({**config.to_dict(), **labels}))
    check_vocabulary(model.config, tokenizer)
    check_labels(task, model.config.num_labels)
    return model


def initial_classifier(task: DatasetDict, tokenizer, *, pretrained=None, scratch: bool = False, model_settings=None):
    """The model an arm starts from: the encoder of the MLM folder `pretrained`; or, with `scratch`, a random
    initialisation of `pretrained`'s architecture, or of `model_settings` (a ModelSettings) without a folder."""
    if not scratch:
        return build_classifier(task, tokenizer, pretrained=pretrained)
    if pretrained is not None:
        return build_classifier(task, tokenizer, config=ConvBertConfig.from_pretrained(pretrained))
    return build_classifier(task, tokenizer, config=model_settings.config(tokenizer))


def tokenize_task(task: DatasetDict, tokenizer, *, max_length: int = 128, num_proc=None) -> DatasetDict:
    """input_ids and label, truncated at max_length; DataCollatorWithPadding pads per batch."""

    def encode(batch):
        return tokenizer(batch["text"], truncation=True, max_length=max_length, return_token_type_ids=False,
                         return_attention_mask=False)

    return task.map(encode, batched=True, remove_columns=["text"], num_proc=num_proc, desc="Tokenising task")


def classification_trainer(model, tokenizer, task: DatasetDict, args, *, max_length: int = 128) -> Trainer:
    """A Trainer that fine-tunes on task["train"] and reports test accuracy (task["test"]) per evaluation."""
    data = tokenize_task(task, tokenizer, max_length=max_length)
    return Trainer(
        model=model, args=args, train_dataset=data["train"], eval_dataset=data["test"],
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8), processing_class=tokenizer,
        compute_metrics=accuracy_metrics(),
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


def fine_tune(model, tokenizer, task: DatasetDict, args, *, max_length: int = 128, resume_from_checkpoint=None):
    """Train with `args` (see `tlm_hf.training.recipes`), return the Trainer and the accuracy summary."""
    trainer = classification_trainer(model, tokenizer, task, args, max_length=max_length)
    trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    return trainer, accuracy_summary(trainer.state.log_history)
