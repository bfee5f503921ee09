"""Model cards for the three kinds of run folder: a pre-trained TLM, a fine-tuned classifier, a committee.

Cards are rendered from the templates in `model_cards/` (installed as `tlm_hf.model_cards`) with
`huggingface_hub.ModelCard.from_template`, filled only from what the runs already wrote:
`config.json`, `run_config.json`, `pretraining_stats.json` (W_s, T_W, T_C, T_M) and `results.json`. A card says
only what its folder holds: a user's own task and data by their names, the label names, a fluctuation computed from
the test size; the paper is named as the reason for a run only where the run is one of the paper's experiments.
"""

import math
from importlib.resources import files
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification

from ..data.files import data_name, file_suffix, is_local
from ..data.tasks import TASKS
from ..errors import MissingFileError, SettingsError
from ..fileio import atomic_write, read_json
from ..training.run_definition import hyperparameters
from ..training.runs import load_model_folder, model_folder_config

CITATION = """```bibtex
@article{gross2025tiny,
  title  = {Tiny Language Models},
  author = {Gross, Ronit D. and Tzach, Yarden and Halevi, Tal and Koresh, Ella and Kanter, Ido},
  year   = {2025},
  note   = {Code: https://github.com/Rg32601/Tiny-Language-Models}
}
```"""

# Corpora a run may name by a bundled sample or a folder of that name: their Hub id and how the card names them.
_KNOWN_CORPORA = {"wikitext2": ("Salesforce/wikitext", "WikiText-2"), "wikipedia": ("wikimedia/wikipedia", "Wikipedia")}
_EXAMPLE_TEXT = "The team won the championship after a late goal in the final."  # the paper's tasks: news, topics
_EXAMPLE_CHARS = 200  # an example sentence from a user's test split is cut here, at a word


def _read_json_if_present(path: Path) -> dict | list | None:
    """A run file that older or other runs may lack (`settings.read_json` raises instead)."""
    if not path.exists():
        return None
    return read_json(path, fix="restore it or rerun the run that wrote it")  # a corrupt file: one line naming it


def run_kind(run_dir: str | Path) -> str:
    """'pretrained', 'classifier' or 'committee', from the saved model's architecture."""
    if not (Path(run_dir) / "config.json").exists():
        raise MissingFileError(f"No config.json in {run_dir}: pass the output folder of a training run.")
    config = model_folder_config(run_dir, role="run folder", weights=False)
    architectures = config.get("architectures") or []
    if any("Committee" in name for name in architectures):
        return "committee"
    if any(name.endswith("ForSequenceClassification") for name in architectures):
        return "classifier"
    if any(name.endswith("ForMaskedLM") for name in architectures):
        return "pretrained"
    raise SettingsError(f"{run_dir}/config.json names architectures {architectures}: not a tlm-hf model folder.")


def describe_architecture(config) -> dict:
    """The paper's way of naming a model: BERT-<blocks>, plus its convolutional layers (CLs)."""
    conv = "none"
    if getattr(config, "num_conv_layers", 0):
        kernel = "x".join(str(k) for k in config.conv_kernel_size)
        conv = f"{config.num_conv_layers} (d = {config.conv_channels}, kernel {kernel})"
    summary = f"BERT-{config.num_hidden_layers}, {config.num_attention_heads} heads"
    if conv != "none":
        summary += f", {config.num_conv_layers} CLs d{config.conv_channels} k{kernel}"
    return dict(
        summary=summary, conv=conv, num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads, hidden_size=config.hidden_size,
        vocab_size=config.vocab_size, max_position_embeddings=config.max_position_embeddings,
    )


def _flatten(settings: dict) -> dict:
    flat = {}
    for key, value in settings.items():
        flat.update(_flatten(value) if isinstance(value, dict) else {key: value})
    return flat


def _hyperparameters_table(run_config: dict | None) -> str:
    rows = [f"| {key} | {value} |" for key, value in hyperparameters(run_config).items()]
    if not rows:
        return "The run recorded no hyper-parameters."
    return "\n".join(["| hyper-parameter | value |", "| --- | --- |", *rows])


def _known_corpus(corpus: str) -> tuple[str, str] | None:
    """(Hub id, name) of `sample:wikitext2` or a file inside a wikitext2/ or wikipedia/ folder; None otherwise."""
    parts = [part.lower() for part in Path(corpus.removeprefix("sample:")).parts]
    markers = parts if corpus.startswith("sample:") else parts[:-1]
    return next((known for marker, known in _KNOWN_CORPORA.items() if marker in markers), None)


def _corpus_dataset_id(corpus: str | None) -> str | None:
    """The Hub dataset id of the corpus, for the card's metadata: None for a user's own files."""
    if not corpus:
        return None
    known = _known_corpus(corpus)
    if known:
        return known[0]
    return None if is_local(corpus) else corpus


def corpus_name(corpus: str | None) -> str:
    """The corpus as the user gave it, without their folders: "WikiText-2" only when it is, a Hub id, a file name."""
    if not corpus:
        return "an unrecorded corpus"
    known = _known_corpus(corpus)
    if known:
        return known[1]
    return f"`{data_name(corpus)}`" if is_local(corpus) else corpus


def _pretraining(stats: dict | None) -> dict | None:
    if stats is None:
        return None
    return dict(
        corpus=corpus_name(stats.get("corpus")), subset=stats.get("subset", "random"), W_s=stats["W_s"],
        T_W=stats.get("T_W"), T_C=stats.get("T_C"), T_M=stats.get("T_M"), task=stats.get("task"),
        seed=stats.get("seed", "n/a"),
        **{key: stats.get(key) for key in ("heldout_paragraphs", "heldout_source", "heldout_mlm_loss",
                                           "heldout_perplexity", "heldout_accuracy", "unigram_loss", "context_gain",
                                           "blimp_overall", "blimp_pairs", "blimp_variant")},
        blimp_error=accuracy_error(stats["blimp_overall"], stats["blimp_pairs"])
        if stats.get("blimp_overall") is not None and stats.get("blimp_pairs") else None,
    )


def vocabulary_origin(run_config: dict | None, stats: dict | None = None) -> str:
    """Where the vocabulary comes from: trained on the pre-training text (--wordpiece_vocab_size), or the tokenizer
    given (a Hub id, a bundled sample or a folder's name), or for a fine-tune the pre-trained folder's."""
    settings = _flatten(run_config or {})
    pretrained = settings.get("pretrained")
    if settings.get("wordpiece_vocab_size"):
        w_s = f"{stats['W_s']:,} " if stats and stats.get("W_s") else ""
        return f"WordPiece trained on the {w_s}pre-training paragraphs"
    if settings.get("tokenizer"):
        return data_name(settings["tokenizer"]).removeprefix("sample:")
    if pretrained:  # fine-tunes of both arms take the pre-trained folder's tokenizer
        parent = _read_json_if_present(Path(pretrained) / "run_config.json")
        return vocabulary_origin(parent, stats) if parent else f"the pre-trained model's ({data_name(pretrained)})"
    return "bert-base-uncased"


def _task_dataset_id(task: str, run_config: dict | None = None) -> str | None:
    """The Hub dataset id of the task, or None for a user's own files (a task name is never taken for an id)."""
    if task in TASKS:
        return TASKS[task].hub_id
    return None if _flatten(run_config or {}).get("task_data") else task


def _own_data_type(run_config: dict | None) -> str | None:
    """The model-index dataset type of a user's own task file: its loader (`csv`, `json`, `parquet`), as Trainer
    names local data, so that the metric is listed without claiming a Hub dataset id."""
    task_data = _flatten(run_config or {}).get("task_data")
    if not task_data:
        return None
    first = task_data.split(",")[0].split("=", 1)[-1]
    return {".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}.get(file_suffix(first), "csv")


def _classification_results(task: str, results: list[tuple[str, str, float]],
                            run_config: dict | None = None) -> list[EvalResult] | None:
    """The model-index entries of measured metrics: under the task's Hub dataset, or a user's file by its format."""
    dataset_type = _task_dataset_id(task, run_config) or _own_data_type(run_config)
    if dataset_type is None:
        return None
    return [
        EvalResult(
            task_type="text-classification", dataset_type=dataset_type, dataset_name=task,
            dataset_split="test", metric_type=metric_type, metric_name=metric_name, metric_value=value,
        )
        for metric_type, metric_name, value in results
    ]


def accuracy_error(accuracy: float, test_size: int) -> float:
    """The standard error of an accuracy measured on `test_size` examples: sqrt(p (1 - p) / n)."""
    return math.sqrt(max(accuracy * (1 - accuracy), 0.0) / test_size) if test_size else float("nan")


def fluctuation(accuracy: float | None, test_size: int | None, *, gap_with: float | None = None) -> str | None:
    """One sentence: how much this accuracy (and a gap to `gap_with`, measured on as many examples) moves with the
    test examples drawn; None without an accuracy or a test size."""
    if accuracy is None or not test_size:
        return None
    error = accuracy_error(accuracy, test_size)
    text = (f"With {test_size:,} test examples, the accuracy's standard error is about {100 * error:.1f} points "
            f"(sqrt(p(1-p)/n))")
    if gap_with is not None:
        gap_error = math.sqrt(error ** 2 + accuracy_error(gap_with, test_size) ** 2)
        text += f", and the gap's about {100 * gap_error:.1f} points"
    return text + ": differences smaller than about twice that are within the noise of one run."


def label_names(model) -> list[str]:
    """The model's label names, in id order."""
    id2label = model.config.id2label or {}
    return [str(id2label[i]) for i in sorted(id2label)]


def paper_experiment(task: str | None, corpus: str | None = None) -> bool:
    """Whether a run is one of the paper's experiments: one of its tasks, or for a pre-training one of its corpora.
    Only such cards say they were made to reproduce the paper."""
    if task is not None:
        return task in TASKS
    return corpus is not None and _known_corpus(corpus) is not None


def example_text(results: dict | None, run_config: dict | None, paper: bool) -> str:
    """The card's example sentence, as a Python literal: the first test example the run recorded (a user's own
    domain), else the run's task reloaded, else a generic sentence for the paper's tasks."""
    text = (results or {}).get("example_text")
    if not text:
        text = _reloaded_test_example(run_config)
    if not text:
        text = _EXAMPLE_TEXT if paper else "A sentence of the kind this model was trained on."
    if len(text) > _EXAMPLE_CHARS:
        text = text[:_EXAMPLE_CHARS].rsplit(" ", 1)[0]
    return repr(text)


def _reloaded_test_example(run_config: dict | None) -> str | None:
    """The first test example of the run's task, loaded again from its settings (older runs did not record it);
    None where its files cannot be read from here."""
    import dataclasses

    from ..errors import UserError
    from ..settings import TaskSettings

    settings = _flatten(run_config or {})
    if not settings.get("task_data"):
        return None
    task = TaskSettings(**{f.name: settings[f.name] for f in dataclasses.fields(TaskSettings) if f.name in settings})
    try:
        return task.load()["test"][0]["text"]
    except (UserError, OSError, ValueError, KeyError, IndexError):
        return None


def _pretrained_context(run_dir: Path, model, run_config) -> tuple[dict, ModelCardData]:
    stats = _read_json_if_present(run_dir / "pretraining_stats.json")
    if stats is None:
        raise MissingFileError(f"No pretraining_stats.json in {run_dir}: was it written by tlm pretrain?")
    pretraining = _pretraining(stats)
    dataset = _corpus_dataset_id(stats.get("corpus"))
    data = dict(pipeline_tag="fill-mask", datasets=[dataset] if dataset else None)
    return dict(pretraining=pretraining, vocabulary=vocabulary_origin(run_config, stats),
                paper=paper_experiment(None, stats.get("corpus"))), data


def _classifier_context(run_dir: Path, model, run_config, scratch_run) -> tuple[dict, dict]:
    results = _read_json_if_present(run_dir / "results.json")
    if results is None:
        raise MissingFileError(f"No results.json in {run_dir}: was it written by tlm finetune?")
    scratch = _read_json_if_present(Path(scratch_run) / "results.json") if scratch_run else None
    if scratch_run and scratch is None:
        raise MissingFileError(f"No results.json in the scratch run {scratch_run}.")
    pretrained_from = results.get("pretrained_from")
    stats = _read_json_if_present(run_dir / "pretraining_stats.json")
    if stats is None and pretrained_from:
        stats = _read_json_if_present(Path(pretrained_from) / "pretraining_stats.json")
    metrics = [("accuracy", "Accuracy", results["accuracy_final"])]
    if scratch is not None:
        metrics += [
            ("accuracy", "Accuracy without pre-training (same architecture)", scratch["accuracy_final"]),
            ("accuracy_gap", "Gap (pre-trained - scratch)", round(results["accuracy_final"] - scratch["accuracy_final"], 6)),
        ]
    task = results["task"]
    dataset = _task_dataset_id(task, run_config)
    data = dict(pipeline_tag="text-classification", datasets=[dataset] if dataset else None,
                eval_results=_classification_results(task, metrics, run_config))
    finetuning = {**results, "pretrained_from": data_name(pretrained_from) if pretrained_from else None}
    paper = paper_experiment(task)
    context = dict(
        finetuning=finetuning, scratch=scratch, pretraining=_pretraining(stats),
        vocabulary=vocabulary_origin(run_config, stats), labels=label_names(model), paper=paper,
        task_data=_task_data_name(run_config),
        fluctuation=fluctuation(results["accuracy_final"], results.get("test_size"),
                                gap_with=scratch["accuracy_final"] if scratch else None),
        example_text=example_text(results, run_config, paper),
    )
    return context, data


def _task_data_name(run_config: dict | None) -> str | None:
    """The user's task file(s) by file name (never their folders), or None for a registry task's own data."""
    task_data = _flatten(run_config or {}).get("task_data")
    if not task_data or task_data.startswith("sample:"):
        return None
    return ", ".join(data_name(part.split("=", 1)[-1].strip()) for part in task_data.split(","))


def _committee_context(run_dir: Path, model, run_config) -> tuple[dict, dict]:
    """Its members by name (the folders or presets they came from) with their own accuracies where measured, the
    task and data they were fine-tuned on, the committee's accuracy; nothing about latency, which is not measured
    here, and convolutions only where a member has them."""
    results = _read_json_if_present(run_dir / "results.json") or {}
    recorded = results.get("members") or [{}] * len(model.members)
    member_accuracy = results.get("member_accuracies") or [None] * len(model.members)
    members = [
        dict(describe_architecture(member.config), parameters=member.num_parameters(), accuracy=accuracy,
             name=data_name(entry["member"]) if entry.get("member") else f"member {index}")
        for index, (member, accuracy, entry) in enumerate(zip(model.members, member_accuracy, recorded))
    ]
    task = results.get("task", "text-classification")
    paper = paper_experiment(task)
    committee = dict(
        task=task, accuracy=results.get("committee_accuracy"), reference_accuracy=results.get("reference_accuracy"),
        train_size=results.get("train_size"), test_size=results.get("test_size"),
        pretrained=not _flatten(run_config or {}).get("scratch", False), recipe=_flatten(run_config or {}).get("recipe"),
        reference=data_name(results["reference"]) if results.get("reference") else None,
    )
    data = dict(pipeline_tag="text-classification", datasets=[TASKS[task].hub_id] if task in TASKS else None)
    if committee["accuracy"] is not None:
        data["eval_results"] = _classification_results(task, [("accuracy", "Accuracy", committee["accuracy"])],
                                                       run_config)
    pipelines = getattr(model.config, "custom_pipelines", None) or {}
    return dict(
        members=members, committee=committee, pipeline_task=next(iter(pipelines), None), paper=paper,
        labels=label_names(model), task_data=_task_data_name(run_config),
        any_convolutions=any(member["conv"] != "none" for member in members),
        fluctuation=fluctuation(committee["accuracy"], committee["test_size"]),
        example_text=example_text(results, run_config, paper),
    ), data


def build_model_card(
    run_dir: str | Path, *, repo_id: str | None = None, scratch_run: str | Path | None = None,
    license: str = "apache-2.0",
) -> ModelCard:
    """The card of a run folder. `scratch_run`: the from-scratch twin of a classifier, for the gap."""
    run_dir = Path(run_dir)
    kind = run_kind(run_dir)
    repo_id = repo_id or run_dir.resolve().name
    auto_class = AutoModelForMaskedLM if kind == "pretrained" else AutoModelForSequenceClassification
    model = load_model_folder(auto_class, run_dir, role="run folder")
    run_config = _read_json_if_present(run_dir / "run_config.json")
    if kind == "pretrained":
        context, data = _pretrained_context(run_dir, model, run_config)
    elif kind == "classifier":
        context, data = _classifier_context(run_dir, model, run_config, scratch_run)
    else:
        context, data = _committee_context(run_dir, model, run_config)
    card_data = ModelCardData(
        model_name=repo_id.split("/")[-1], license=license, library_name="transformers",
        tags=["tiny-language-models", "tlm-hf", "bert", "custom_code", kind], **data,
    )
    if kind != "committee":
        context["architecture"] = dict(describe_architecture(model.config), parameters=model.num_parameters())
    template = files("tlm_hf.model_cards").joinpath(f"{kind}.md")
    return ModelCard.from_template(
        card_data, template_str=template.read_text(), model_name=card_data.model_name, repo_id=repo_id,
        tokenizer=context.pop("vocabulary", None) or vocabulary_origin(run_config), hyperparameters=_hyperparameters_table(run_config),
        citation=CITATION, **{"example_text": repr(_EXAMPLE_TEXT), **context},
    )


def write_model_card(run_dir: str | Path, **kwargs) -> Path:
    """Render the card into `run_dir/README.md` (atomically), where the Hub looks for it."""
    path = Path(run_dir) / "README.md"
    atomic_write(path, str(build_model_card(run_dir, **kwargs)))
    return path
