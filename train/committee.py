"""Fine-tune the members of a soft committee, evaluate each alone and together: the paper's Tables 8 and 9.

    python train/committee.py --config train/configs/table9.yaml --output_dir runs/table9
    python train/committee.py --config train/configs/table8a.yaml --output_dir runs/table8a --seed 1

Members are pre-trained MLM folders (written by train/pretrain.py), fine-tuned from there, or with
--scratch presets (or folders whose architecture is reused) trained from a random initialisation ("without
pre-training", Table 9). Each member is fine-tuned alone, with its own seed (--seed + its index), through
the same code as train/finetune.py; a member folder that already holds results.json is reused.

Writes to --output_dir: the committee (one config, one weights file, its code, the tokenizer, loadable with
AutoModelForSequenceClassification or pipeline("soft-committee-classification")), results.json / .csv / .md
(each member's architecture and test accuracy, the committee's, and the --reference BERT-6 run's), and
members/<index>-<name>/ (each member's classifier and results.json).
"""

import sys
from dataclasses import replace
from pathlib import Path

from transformers import TrainingArguments, set_seed

from tlm_hf import ConvBertConfig, ConvBertForSequenceClassification, SoftCommitteeForSequenceClassification
from tlm_hf.arguments import parse_settings
from tlm_hf.settings import COMMITTEE_SETTINGS, SettingsError
from tlm_hf.training.finetuning import classification_trainer, fine_tune, initial_classifier, initial_config
from tlm_hf.training.results import markdown_table, write_results
from tlm_hf.training.runs import claim_run_dir, load_model_folder, model_folder_config, read_json, run_config, write_json

COLUMNS = {"model": "model", "BERT blocks": "bert_blocks", "CLs": "cls", "d": "d", "kernel": "kernel",
           "No. heads": "heads", "Acc.": "accuracy"}


def table_row(name: str, architecture: dict, accuracy: float) -> dict:
    """A Table 8/9 row: BERT blocks, convolutional layers (CLs) with their channels d and kernel, heads."""
    cls = architecture.get("num_conv_layers", 0)
    kernel = architecture.get("conv_kernel_size")
    return dict(
        model=name, bert_blocks=architecture["num_hidden_layers"], cls=cls,
        d=architecture.get("conv_channels") if cls else "-", kernel="x".join(map(str, kernel)) if cls else "-",
        heads=architecture["num_attention_heads"], accuracy=round(accuracy, 4),
    )


# -- settings: the recipe's fine-tuning (--recipe, default paper), then the YAML file, then the command line -----
try:
    settings, task, model_settings, tokenizer_settings, args = parse_settings(
        COMMITTEE_SETTINGS, stage="finetuning", required=("output_dir",)
    )
    if not settings.members:
        raise SettingsError("no members; list them under `members:` in the config or with --members")
    tokenizer = tokenizer_settings.load(default=settings.members[0] if not settings.scratch else "bert-base-uncased")
    task_data = task.load()
    if settings.reference:  # its accuracy, and its architecture from its config
        model_folder_config(settings.reference, role="--reference", weights=False)
        if not (Path(settings.reference) / "results.json").is_file():
            raise SettingsError(f"--reference {settings.reference} has no results.json; give a train/finetune.py output folder")
        reference = read_json(Path(settings.reference) / "results.json")
        reference_config = ConvBertConfig.from_pretrained(settings.reference)
    else:
        reference = None
    out = Path(args.output_dir)
    for index, member in enumerate(settings.members):  # every member checked before the first is trained
        from_folder = not settings.scratch or Path(member).exists()
        initial_config(tokenizer, pretrained=member if from_folder else None, scratch=settings.scratch,
                       model_settings=replace(model_settings, preset=member), role=f"member {index}")
        if (out / "members" / f"{index}-{Path(member).name}" / "results.json").exists():
            model_folder_config(out / "members" / f"{index}-{Path(member).name}", role=f"finished member {index}")
    claim_run_dir(out, run_config((settings, task, model_settings, tokenizer_settings), args), write=args.should_save)
except (SettingsError, ValueError, FileNotFoundError) as err:
    sys.exit(f"committee.py: error: {err}")

# -- members: each fine-tuned alone, with its own seed --------------------------------------------------------
base_seed, members, rows, member_results = args.seed, [], [], []
for index, member in enumerate(settings.members):
    member_dir = out / "members" / f"{index}-{Path(member).name}"
    if (member_dir / "results.json").exists():
        print(f"[cached] member {index}: {member_dir}", flush=True)
        model = load_model_folder(ConvBertForSequenceClassification, member_dir, role=f"finished member {index}")
        result = read_json(member_dir / "results.json")
    else:
        print(f"[run] member {index} ({member}): {member_dir}", flush=True)
        set_seed(base_seed + index)
        # scratch: a preset, or a saved model's architecture, with random weights
        from_folder = not settings.scratch or Path(member).exists()
        model = initial_classifier(task_data, tokenizer, pretrained=member if from_folder else None,
                                   scratch=settings.scratch, model_settings=replace(model_settings, preset=member),
                                   role=f"member {index}")
        args.output_dir, args.seed = str(member_dir / "checkpoints"), base_seed + index
        trainer, summary = fine_tune(model, tokenizer, task_data, args, max_length=model_settings.max_length)
        trainer.save_model(str(member_dir))
        arm = "scratch" if settings.scratch else "pretrained"
        result = {"member": member, "arm": arm, "seed": args.seed, **summary}
        write_json(member_dir / "results.json", result)  # written last: its presence marks a finished member
    members.append(model)
    member_results.append(result)
    rows.append(table_row(f"member {index}: {Path(member).name}", model.config.to_dict(), result["accuracy_final"]))

# -- the committee: sum of the members' raw logits, evaluated on the same test split --------------------------
committee = SoftCommitteeForSequenceClassification.from_members(members)
eval_args = TrainingArguments(
    output_dir=str(out / "evaluation"), per_device_eval_batch_size=args.per_device_eval_batch_size,
    bf16=args.bf16, use_cpu=args.use_cpu, report_to="none",
)
evaluation = classification_trainer(committee, tokenizer, task_data, eval_args, max_length=model_settings.max_length)
committee_accuracy = evaluation.evaluate()["eval_accuracy"]
rows.append(dict(model="soft committee", **dict.fromkeys(list(COLUMNS.values())[1:-1], ""),
                 accuracy=round(committee_accuracy, 4)))
if reference is not None:
    name = f"reference: {Path(settings.reference).name}"
    rows.append(table_row(name, reference_config.to_dict(), reference["accuracy_final"]))

# -- save: the committee folder, then the table (results.json written last) ------------------------------------
committee.save_pretrained(out)
tokenizer.save_pretrained(out)
training = "without pre-training" if settings.scratch else "pre-trained"
title = (f"{task.task}: {len(task_data['train']):,} train / {len(task_data['test']):,} test, {len(members)} members "
         f"{training}, final-epoch test accuracy")
markdown = markdown_table(rows, {header: (lambda row, key=key: row[key]) for header, key in COLUMNS.items()}, title)
write_results(out, rows, fields=COLUMNS.values(), markdown=markdown, data={
    "task": task.task, "title": title, "committee_accuracy": committee_accuracy,
    "member_accuracies": [r["accuracy_final"] for r in member_results], "members": member_results,
    "reference": settings.reference, "reference_accuracy": reference["accuracy_final"] if reference else None,
    "rows": rows,
})
print(markdown)
print(f"wrote {out}/results.json, results.csv, results.md and the committee folder")
