"""Model cards for the three kinds of run folder: a pre-trained TLM, a fine-tuned classifier, a committee.

Cards are rendered from the templates in `model_cards/` (installed as `tlm_hf.model_cards`) with
`huggingface_hub.ModelCard.from_template`, filled only from what the runs already wrote:
`config.json`, `run_config.json`, `pretraining_stats.json` (W_s, T_W, T_C, T_M) and `results.json`.
"""

from importlib.resources import files
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification

from ..data.files import data_name, is_local
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
_EXAMPLE_TEXT = "The team won the championship after a late goal in the final."


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


def _classification_results(task: str, results: list[tuple[str, str, float]]) -> list[EvalResult]:
    return [
        EvalResult(
            task_type="text-classification", dataset_type=_task_dataset_id(task), dataset_name=task,
            dataset_split="test", metric_type=metric_type, metric_name=metric_name, metric_value=value,
        )
        for metric_type, metric_name, value in results
    ]


def _pretrained_context(run_dir: Path, model, run_config) -> tuple[dict, ModelCardData]:
    stats = _read_json_if_present(run_dir / "pretraining_stats.json")
    if stats is None:
        raise MissingFileError(f"No pretraining_stats.json in {run_dir}: was it written by train/pretrain.py?")
    pretraining = _pretraining(stats)
    dataset = _corpus_dataset_id(stats.get("corpus"))
    data = dict(pipeline_tag="fill-mask", datasets=[dataset] if dataset else None)
    return dict(pretraining=pretraining, vocabulary=vocabulary_origin(run_config, stats)), data


def _classifier_context(run_dir: Path, model, run_config, scratch_run) -> tuple[dict, dict]:
    results = _read_json_if_present(run_dir / "results.json")
    if results is None:
        raise MissingFileError(f"No results.json in {run_dir}: was it written by train/finetune.py?")
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
                eval_results=_classification_results(task, metrics) if dataset else None)
    finetuning = {**results, "pretrained_from": data_name(pretrained_from) if pretrained_from else None}
    context = dict(finetuning=finetuning, scratch=scratch, pretraining=_pretraining(stats),
                   vocabulary=vocabulary_origin(run_config, stats))
    return context, data


def _committee_context(run_dir: Path, model, run_config) -> tuple[dict, dict]:
    results = _read_json_if_present(run_dir / "results.json") or {}
    member_accuracy = results.get("member_accuracies") or [None] * len(model.members)
    members = [
        dict(describe_architecture(member.config), parameters=member.num_parameters(), accuracy=accuracy)
        for member, accuracy in zip(model.members, member_accuracy)
    ]
    task = results.get("task", "text-classification")
    committee = dict(
        task=task, accuracy=results.get("committee_accuracy"), reference_accuracy=results.get("reference_accuracy")
    )
    data = dict(pipeline_tag="text-classification", datasets=[_task_dataset_id(task)] if task in TASKS else None)
    if committee["accuracy"] is not None:
        data["eval_results"] = _classification_results(task, [("accuracy", "Accuracy", committee["accuracy"])])
    pipelines = getattr(model.config, "custom_pipelines", None) or {}
    return dict(members=members, committee=committee, pipeline_task=next(iter(pipelines), None)), data


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
        citation=CITATION, example_text=_EXAMPLE_TEXT, **context,
    )


def write_model_card(run_dir: str | Path, **kwargs) -> Path:
    """Render the card into `run_dir/README.md` (atomically), where the Hub looks for it."""
    path = Path(run_dir) / "README.md"
    atomic_write(path, str(build_model_card(run_dir, **kwargs)))
    return path
