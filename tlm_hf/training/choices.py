"""What a command chose for its user, said once in one short block before anything trains: the recipe and where it
came from, the task's columns and label names, the split sizes, a committee's members, a pre-training's vocabulary.

    print(choices_block([recipe_choice(...), *task_choices(task, task_data)]))

A user who did not name a setting should still be able to see what was decided for it, and how to choose otherwise.
"""

from pathlib import Path

from .recipes import pretrained_recipe


def choices_block(lines) -> str:
    """The block: a heading and one indented line per choice (None lines left out)."""
    return "\n".join(["choices made for this run:", *(f"  {line}" for line in lines if line)])


def _training_summary(args, stage: str) -> str:
    """The recipe's settings that decide a run's length and pace, as this run has them (overrides included)."""
    batch = args.per_device_train_batch_size * args.gradient_accumulation_steps
    epochs = args.num_train_epochs
    length = (f"{args.max_steps:,} steps" if args.max_steps and args.max_steps > 0 else
              f"{epochs:g} epoch{'' if epochs == 1 else 's'}")
    return f"{stage} lr {args.learning_rate:g}, {length}, batch {batch}"


def recipe_choice(recipe: str, *, folders=(), args=None, stage: str = "fine-tuning") -> str:
    """The recipe line: its name, where it came from and its main settings. Where is read off the facts, so that a
    library call without a command line can say it too: the folders' own recipe (inherited, or given the same), a
    recipe other than theirs (given), `paper` without a recorded one (the default), any other (given).

    folders: the pre-trained folders a fine-tune or a committee starts from."""
    inherited = {folder: pretrained_recipe(folder) for folder in folders}
    recorded = sorted({name for name in inherited.values() if name})
    names = ", ".join(str(folder) for folder, name in inherited.items() if name)
    verb = "was" if len(inherited) == 1 else "were"
    if recorded == [recipe]:
        origin = f"the recipe {names} {verb} pre-trained with; --recipe chooses another"
    elif recorded:
        origin = f"given; {names} {verb} pre-trained with {', '.join(recorded)}"
    else:
        origin = "the default; --recipe fast is the quicker one" if recipe == "paper" else "given"
    settings = f": {_training_summary(args, stage)}" if args is not None else ""
    return f"recipe {recipe} ({origin}){settings}"


def task_choices(task_settings, task_data) -> list[str]:
    """The task's lines: its columns (found or given), its label names, and how its splits were made, with sizes."""
    columns = getattr(task_data, "source_columns", None) or {}
    names = list(task_data["train"].features["label"].names)
    lines = []
    if columns:
        text = ", ".join(repr(column) for column in columns["text"])
        found = "" if task_settings.text_column and task_settings.label_column else \
            " (--text_column / --label_column choose others)"
        lines.append(f"task {task_settings.task}: text column {text}, label column {columns['label']!r}{found}")
    else:
        lines.append(f"task {task_settings.task}")
    shown = names if len(names) <= 20 else [*names[:20], f"... ({len(names) - 20} more)"]
    lines.append(f"labels ({len(names)}): {', '.join(map(str, shown))}")
    sizes = ", ".join(f"{split} {len(task_data[split]):,}" for split in ("train", "validation", "test")
                      if split in task_data)
    if columns.get("one_file"):
        how = f"one file split per label by task_seed {task_settings.task_seed}"
    elif task_settings.task_data:
        how = "your files"
    else:
        how = f"drawn per label by task_seed {task_settings.task_seed}"
    lines.append(f"examples: {sizes} ({how})")
    return lines


def member_choices(members, *, scratch: bool) -> str:
    """A committee's members, in order, and how each starts."""
    start = "random initialisation of" if scratch else "fine-tuned from"
    return f"members ({len(members)}, {start}): " + ", ".join(
        f"{index}: {Path(member).name if Path(member).exists() else member}" for index, member in enumerate(members))


def vocabulary_choice(vocab_size: int | None, tokenizer: str | None, w_s: int | None = None) -> str:
    """What a pre-training's vocabulary is: trained here on the user's paragraphs, or a given tokenizer's."""
    if vocab_size:
        on = f"the {w_s:,} pre-training paragraphs" if w_s else "the pre-training paragraphs"
        return f"vocabulary: a WordPiece vocabulary of at most {vocab_size:,} tokens, trained on {on} before the model"
    return f"vocabulary: {tokenizer or 'bert-base-uncased'}'s (--wordpiece_vocab_size N trains one on your text)"


def finetuning_choices(settings, task, task_data, args) -> str:
    """A fine-tune's block: the recipe (with where it came from), the task's columns, labels and splits."""
    folders = [settings.pretrained] if settings.pretrained else []
    return choices_block([recipe_choice(settings.recipe, folders=folders, args=args), *task_choices(task, task_data)])


def committee_choices(settings, task, task_data, args) -> str:
    """A committee's block: the recipe its members are fine-tuned with, the task, the members."""
    folders = [member for member in settings.members if Path(member).is_dir()]
    return choices_block([
        recipe_choice(settings.recipe, folders=folders, args=args) + " (every member)",
        *task_choices(task, task_data), member_choices(settings.members, scratch=settings.scratch),
    ])


def pretraining_choices(settings, tokenizer_settings, args, stats) -> str:
    """A pre-training's block: the recipe and the vocabulary (trained here or given)."""
    return choices_block([
        recipe_choice(settings.recipe, args=args, stage="pre-training"),
        vocabulary_choice(settings.wordpiece_vocab_size, tokenizer_settings.tokenizer, stats.get("W_s")),
    ])


def trained_vocabulary(settings, stats) -> str | None:
    """What a pre-training trains besides the model, for its plan line: the WordPiece vocabulary, or nothing."""
    if not settings.wordpiece_vocab_size:
        return None
    return (f"a WordPiece vocabulary of at most {settings.wordpiece_vocab_size:,} tokens on the {stats['W_s']:,} "
            "paragraphs (done before the first step)")
