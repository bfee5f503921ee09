"""A soft committee of shallow models: fine-tune each member alone, evaluate each and the committee (the paper's
Tables 8 and 9). `train_committee` is the run (`tlm committee` and train/committee.py are its command line,
`tlm_hf.commands.committee`).

Members are pre-trained MLM folders, fine-tuned from there, or with `scratch` presets (or folders whose
architecture is reused) trained from a random initialisation ("without pre-training", Table 9). Each member is
a fine-tuning run of its own with its own seed (seed + its index), `jobs` members at a time; a member folder that
already holds results.json is reused. The members are fine-tuned with the recipe their folders were pre-trained
with, unless `recipe` names another.
"""


from dataclasses import asdict, replace
from pathlib import Path

from transformers import TrainingArguments

from ..errors import SettingsError
from ..models.configuration_conv_bert import ConvBertConfig
from ..models.modeling_conv_bert import ConvBertForSequenceClassification
from ..models.modeling_soft_committee import SoftCommitteeForSequenceClassification
from .choices import committee_choices
from .experiments import PlannedRun
from .finetuning import classification_trainer, classifier_start, test_example
from .launch import launch_settings, run_plan
from .recipes import recipe_defaults
from .results import markdown_table, write_results
from .runs import claim_run_dir, load_model_folder, model_folder_config, read_json, run_config

COLUMNS = {"model": "model", "BERT blocks": "bert_blocks", "CLs": "conv_layers", "d": "d", "kernel": "kernel",
           "No. heads": "heads", "Acc.": "accuracy"}


def table_row(name: str, architecture: dict, accuracy: float) -> dict:
    """A Table 8/9 row: BERT blocks, convolutional layers (CLs) with their channels d and kernel, heads."""
    conv_layers = architecture.get("num_conv_layers", 0)
    kernel = architecture.get("conv_kernel_size")
    return dict(
        model=name, bert_blocks=architecture["num_hidden_layers"], conv_layers=conv_layers,
        d=architecture.get("conv_channels") if conv_layers else "-",
        kernel="x".join(map(str, kernel)) if conv_layers else "-",
        heads=architecture["num_attention_heads"], accuracy=round(accuracy, 4),
    )


def given_training_args(args: TrainingArguments, recipe: str) -> dict:
    """The TrainingArguments the committee was given beyond its recipe's fine-tuning defaults (by its YAML file or
    command line): each member's fine-tuning run gets them, and the recipe's name for the rest."""
    defaults = TrainingArguments(output_dir=args.output_dir, **recipe_defaults(recipe, "finetuning")).to_dict()
    ours = args.to_dict()
    return {key: value for key, value in ours.items()
            if value != defaults.get(key) and key not in ("output_dir", "logging_dir", "seed")}


def train_committee(settings, task, model_settings, tokenizer_settings, args: TrainingArguments) -> dict:
    """Fine-tune the members, evaluate them and their committee, save the committee folder; returns what its
    results.json holds. Every member is checked before the first is trained (a UserError for input that cannot run)."""
    # -- the members, each checked; the committee's folder claimed -------------------------------------------------
    if not settings.members:
        raise SettingsError("no members; list them under `members:` in the config or with --members")
    tokenizer_source = tokenizer_settings.tokenizer or (
        settings.members[0] if not settings.scratch else "bert-base-uncased")
    tokenizer = tokenizer_settings.load(default=tokenizer_source)
    task_data = task.load()
    if settings.reference:  # its accuracy, and its architecture from its config
        model_folder_config(settings.reference, role="--reference", weights=False)
        if not (Path(settings.reference) / "results.json").is_file():
            raise SettingsError(f"--reference {settings.reference} has no results.json; "
                                "give a fine-tuning run's output folder")
        reference = read_json(Path(settings.reference) / "results.json")
        reference_config = ConvBertConfig.from_pretrained(settings.reference)
    else:
        reference = None
    out = Path(args.output_dir)
    training = given_training_args(args, settings.recipe)
    member_runs = []
    for index, member in enumerate(settings.members):  # every member checked before the first is trained
        from_folder = not settings.scratch or Path(member).exists()  # scratch: a preset or a folder's architecture
        member_model = replace(model_settings, preset=member) if not from_folder else model_settings
        classifier_start(tokenizer, pretrained=member if from_folder else None, scratch=settings.scratch,
                         model_settings=member_model, role=f"member {index}")  # checked once, here
        member_dir = out / "members" / f"{index}-{Path(member).name}"
        if (member_dir / "results.json").exists():
            model_folder_config(member_dir, role=f"finished member {index}")
        member_runs.append(PlannedRun(
            "finetuning", {
                "recipe": settings.recipe, **asdict(task), **asdict(member_model), "tokenizer": tokenizer_source,
                "pretrained": member if from_folder else None, "scratch": settings.scratch,
                **training, "seed": args.seed + index,  # independent members, each with its own seed
            }, member_dir, f"member {index} ({member})", "results.json"))
    claim_run_dir(out, run_config((settings, task, model_settings, tokenizer_settings), args),
                  main_process=args.should_save)
    print(committee_choices(settings, task, task_data, args))

    # -- members: each fine-tuned alone, `jobs` at a time ----------------------------------------------------------
    outcomes = run_plan(member_runs, **launch_settings(settings))
    members, rows, member_results = [], [], []
    for index, (member, run) in enumerate(zip(settings.members, member_runs)):
        members.append(load_model_folder(ConvBertForSequenceClassification, run.run_dir, role=f"member {index}"))
        member_results.append({"member": member, **outcomes[run.run_dir]})
        rows.append(table_row(f"member {index}: {Path(member).name}", members[-1].config.to_dict(),
                              member_results[-1]["accuracy_final"]))

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
    training_kind = "without pre-training" if settings.scratch else "pre-trained"
    title = (f"{task.task}: {len(task_data['train']):,} train / {len(task_data['test']):,} test, {len(members)} members "
             f"{training_kind}, final-epoch test accuracy")
    markdown = markdown_table(rows, {header: (lambda row, key=key: row[key]) for header, key in COLUMNS.items()}, title)
    data = {
        "task": task.task, "title": title, "committee_accuracy": committee_accuracy,
        "train_size": len(task_data["train"]), "test_size": len(task_data["test"]),
        "example_text": test_example(task_data),
        "member_accuracies": [r["accuracy_final"] for r in member_results], "members": member_results,
        "reference": settings.reference, "reference_accuracy": reference["accuracy_final"] if reference else None,
        "rows": rows,
    }
    write_results(out, rows, fields=COLUMNS.values(), markdown=markdown, data=data)
    print(markdown)
    print(f"wrote {out}/results.json, results.csv, results.md and the committee folder")
    return data
