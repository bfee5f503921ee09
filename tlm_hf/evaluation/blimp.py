"""BLiMP (Warstadt et al., TACL 2020): does a masked LM prefer the grammatical sentence of each minimal pair?

67 paradigms x 1,000 pairs, each an acceptable and an unacceptable sentence differing in one grammatical point; a
model gets a pair right when the acceptable sentence has the higher pseudo-log-likelihood (`pll`). Scores are
fractions; the overall score is the mean over paradigms (as the BLiMP paper reports it), and a field's or a
phenomenon's score the mean over its paradigms. The published 5-gram, LSTM, Transformer-XL and GPT-2 scores are
bundled next to the sample, so every table shows them beside the model's.
"""

import gzip
import json
import time
from collections import defaultdict
from pathlib import Path

from ..data.samples import SAMPLES, resolve_sample
from ..errors import MissingFileError, SettingsError
from .pll import DEFAULT_VARIANT, pseudo_log_likelihoods

DEFAULT_SOURCE = "sample:blimp"  # 100 pairs per paradigm, bundled; the full set: a path or the Hub dataset below
HUB_DATASET = "nyu-mll/blimp"
FIELDS = ("morphology", "syntax", "syntax_semantics", "semantics")
COLUMNS = ("UID", "field", "linguistics_term", "sentence_good", "sentence_bad")
# The BLiMP paper's models, per paradigm and phenomenon (bundled from its repository's raw_results/summary).
PUBLISHED_MODELS = {"ngram": "5-gram", "lstm": "LSTM", "txl": "TXL", "gpt2": "GPT-2"}
# Published overall scores with no per-paradigm file: humans (BLiMP paper), BERT-base scored by PLL (Salazar et
# al. 2020), and ELC-BERT, the BabyLM 2023 winner (~24M parameters, 10M words).
OVERALL_ONLY = {"humans": 0.886, "BERT-base (PLL)": 0.842, "ELC-BERT (BabyLM)": 0.758}


# --- the pairs --------------------------------------------------------------------------------------------------


def _read_jsonl(path: Path, columns=COLUMNS) -> list[dict]:
    """The rows of a .jsonl(.gz) file, each checked: a line that is not JSON (cut off mid-string) or a row without
    one of `columns` is one line naming the file and the line, wherever it is in the file."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise SettingsError(f"{path}, line {number}, is not valid JSON ({err.msg}); fix or remove that "
                                        "line") from None
                _check_row(rows[-1], columns, f"{path}, line {number},")
    except (OSError, EOFError, UnicodeDecodeError) as err:  # gzip.BadGzipFile is an OSError
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise SettingsError(f"{path} cannot be read ({first_line}); copy or download it again") from None
    return rows


def _check_row(row, columns, where: str) -> None:
    missing = [column for column in columns if not isinstance(row, dict) or column not in row]
    if missing:
        raise SettingsError(f"{where} is not BLiMP data: it lacks {', '.join(missing)}; give BLiMP's jsonl files "
                            f"(each row: {', '.join(columns)})")


def _read_hub(dataset_id: str) -> list[dict]:
    from datasets import get_dataset_config_names, load_dataset

    try:
        rows = [dict(row) for uid in get_dataset_config_names(dataset_id)
                for row in load_dataset(dataset_id, uid, split="train")]
    except Exception as err:  # offline, unknown id, ...: datasets raises many types
        raise MissingFileError(
            f"cannot read BLiMP from the Hub dataset {dataset_id!r} ({str(err).strip().splitlines()[0]}); give a "
            f"local blimp .jsonl(.gz) file or folder, or {DEFAULT_SOURCE} (bundled, 100 pairs per paradigm)"
        ) from err
    for number, row in enumerate(rows, 1):
        _check_row(row, COLUMNS, f"{dataset_id}, row {number},")
    return rows


def load_blimp(source: str = DEFAULT_SOURCE, *, pairs_per_paradigm: int | None = None) -> list[dict]:
    """The minimal pairs of `source`: `sample:blimp`, a .jsonl(.gz) file or a folder of them (BLiMP's own
    `data/*.jsonl`), or a Hub dataset id (`nyu-mll/blimp`). With `pairs_per_paradigm`, the first N of each
    paradigm (BLiMP's pairs and the bundled sample are in random order, so the first N are a random draw)."""
    if pairs_per_paradigm is not None and pairs_per_paradigm < 1:
        raise SettingsError(f"pairs_per_paradigm must be at least 1, got {pairs_per_paradigm}")
    path = Path(resolve_sample(source))
    if path.is_dir():
        files = sorted([*path.glob("*.jsonl"), *path.glob("*.jsonl.gz")])
        if not files:
            raise MissingFileError(f"no .jsonl or .jsonl.gz files in {path}; give BLiMP's data folder or file")
        rows = [row for file in files for row in _read_jsonl(file)]
    elif path.is_file():
        rows = _read_jsonl(path)
    elif "/" in source and not source.startswith((".", "/")):
        rows = _read_hub(source)
    else:
        raise MissingFileError(f"no BLiMP data at {source}; give a .jsonl(.gz) file, a folder, the Hub dataset "
                                f"{HUB_DATASET}, or {DEFAULT_SOURCE}")
    taken = defaultdict(int)
    pairs = []
    for row in rows:
        if pairs_per_paradigm is None or taken[row["UID"]] < pairs_per_paradigm:
            taken[row["UID"]] += 1
            # one paradigm of the release spells its field "syntax/semantics"
            pairs.append({column: row[column] for column in COLUMNS} | {"field": row["field"].replace("/", "_")})
    return pairs


# --- the model ---------------------------------------------------------------------------------------------------


def load_masked_lm(source: str, *, random_init: bool = False, seed: int = 0):
    """(masked LM, tokenizer) of a saved folder (a pre-training run's output folder) or a Hub id; with `random_init`,
    the same architecture with fresh random weights (seeded): the floor a trained model is compared with.

    A folder whose weights hold no MLM head (a fine-tuned classifier) is refused: loading it as a masked LM would
    silently score with a random head."""
    import torch
    from transformers import AutoConfig, AutoModelForMaskedLM

    from .. import ConvBertForMaskedLM  # noqa: F401  (registers ConvBert with the Auto classes)
    from ..data.tokenizer import load_tokenizer
    from ..training.runs import load_model_folder, model_folder_config

    local = Path(source).exists() or source.startswith((".", "/"))
    if local:
        config = model_folder_config(source, role="model")
        heads = [name for name in config.get("architectures") or [] if name.endswith("ForMaskedLM")]
        if config.get("architectures") and not heads:
            raise SettingsError(f"{source} holds a {config['architectures'][0]}, not a masked language model; give "
                                "a pre-training run's folder (tlm pretrain --output_dir)")
    tokenizer = load_tokenizer(source)
    if random_init:
        try:
            config = AutoConfig.from_pretrained(source)
        except OSError as err:
            raise MissingFileError(f"cannot load the model config of {source!r}; give a model folder or a reachable "
                                    "Hub id") from err
        torch.manual_seed(seed)
        model = AutoModelForMaskedLM.from_config(config)
    elif local:
        model, info = load_model_folder(AutoModelForMaskedLM, source, role="model", output_loading_info=True)
        if any(key.startswith("cls.") for key in info["missing_keys"]):
            raise SettingsError(f"{source} has no trained MLM head ({info['missing_keys'][0]} missing); give a "
                                "pre-training run's folder, not a fine-tuned classifier")
    else:
        try:
            model = AutoModelForMaskedLM.from_pretrained(source)
        except (OSError, ValueError) as err:
            raise MissingFileError(f"cannot load the masked LM {source!r}; give a model folder or a reachable "
                                    "Hub id") from err
    return model.eval(), tokenizer


# --- scoring ----------------------------------------------------------------------------------------------------


def sentences_of(pairs: list[dict]) -> list[str]:
    """Every distinct sentence of `pairs`, in order."""
    return list(dict.fromkeys(s for pair in pairs for s in (pair["sentence_good"], pair["sentence_bad"])))


def score_pairs(model, tokenizer, pairs: list[dict], *, variant: str = DEFAULT_VARIANT, batch_size: int = 16) -> list[bool]:
    """Whether the model gives each pair's acceptable sentence the higher PLL (each distinct sentence scored once)."""
    sentences = sentences_of(pairs)
    pll = dict(zip(sentences, pseudo_log_likelihoods(model, tokenizer, sentences, variant=variant,
                                                      batch_size=batch_size)))
    return [pll[pair["sentence_good"]] > pll[pair["sentence_bad"]] for pair in pairs]


def unigram_pairs(tokenizer, counts, pairs: list[dict]) -> list[bool]:
    """The unigram floor's decisions: a sentence's log-likelihood is the sum of its tokens' log-frequencies (`counts`
    per vocabulary id, add-one smoothed as for the held-out unigram loss). It knows which words are frequent, and
    that shorter sentences are likelier, and nothing of grammar."""
    from ..training.mlm import unigram_log_probs

    log_probs = unigram_log_probs(counts)
    sentences = sentences_of(pairs)
    ids = tokenizer(sentences, add_special_tokens=False)["input_ids"]
    score = {sentence: float(log_probs[row].sum()) for sentence, row in zip(sentences, ids)}
    return [score[pair["sentence_good"]] > score[pair["sentence_bad"]] for pair in pairs]


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def _paradigm_mean_error(per_paradigm: dict) -> float:
    """Standard error of a mean over paradigms of per-pair values (each paradigm's pairs a sample of its own):
    sqrt(sum of the paradigms' variances of their mean) / number of paradigms."""
    variance = 0.0
    for values in per_paradigm.values():
        values = [float(v) for v in values]
        mean = _mean(values)
        variance += sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1) / len(values)
    return variance ** 0.5 / len(per_paradigm)


def summarise(pairs: list[dict], correct: list[bool]) -> dict:
    """Accuracy per paradigm, and the mean over paradigms overall (with its standard error over the pairs), per field
    and per phenomenon."""
    per_paradigm = defaultdict(list)
    for pair, right in zip(pairs, correct):
        per_paradigm[pair["UID"]].append(right)
    paradigms = {uid: _mean(rights) for uid, rights in per_paradigm.items()}
    info = {pair["UID"]: pair for pair in pairs}

    def by(column):
        groups = defaultdict(list)
        for uid, accuracy in paradigms.items():
            groups[info[uid][column]].append(accuracy)
        return {name: _mean(scores) for name, scores in sorted(groups.items())}

    fields = by("field")
    return {
        "overall": _mean(paradigms.values()),
        "standard_error": _paradigm_mean_error(per_paradigm),
        "fields": {name: fields[name] for name in (*FIELDS, *sorted(set(fields) - set(FIELDS))) if name in fields},
        "phenomena": by("linguistics_term"),
        "paradigms": dict(sorted(paradigms.items())),
        "pairs": len(pairs),
    }


def evaluate_blimp(model, tokenizer, pairs: list[dict], *, variant: str = DEFAULT_VARIANT, batch_size: int = 16,
                   decisions: bool = False) -> dict:
    """`summarise` of the model on `pairs`, with the PLL variant, the number of paradigms and the seconds it took;
    with `decisions`, also each pair's (`decisions`: whether the acceptable sentence won), to compare with floors."""
    start = time.perf_counter()
    correct = score_pairs(model, tokenizer, pairs, variant=variant, batch_size=batch_size)
    result = summarise(pairs, correct)
    return {**result, "variant": variant, "num_paradigms": len(result["paradigms"]),
            "seconds": round(time.perf_counter() - start, 1), **({"decisions": correct} if decisions else {})}


def blimp_metrics(compute_metrics, model, tokenizer, pairs: list[dict], *, variant: str = DEFAULT_VARIANT):
    """Trainer's `compute_metrics` plus `blimp_overall` (and one `blimp_<field>` per field) of `model` on `pairs`,
    so that every held-out evaluation logs them: grammar can be watched appearing as the MLM leaves its plateau."""

    def with_blimp(eval_pred):
        result = evaluate_blimp(model, tokenizer, pairs, variant=variant)
        return {**compute_metrics(eval_pred), "blimp_overall": result["overall"],
                **{f"blimp_{name}": score for name, score in result["fields"].items()}}

    return with_blimp


# --- against the floors: the random twin and the unigram floor ---------------------------------------------------

# A model is distinguishable from a floor when their difference, paired over the same pairs, exceeds this many
# standard errors (about a 95% two-sided test).
DISTINGUISHABLE_AT = 2.0


def compare_with_floor(pairs: list[dict], correct: list[bool], floor: list[bool]) -> dict:
    """The model's overall score minus a floor's on the same pairs, with the standard error of that paired
    difference, and whether it exceeds DISTINGUISHABLE_AT standard errors."""
    per_paradigm = defaultdict(list)
    for pair, mine, theirs in zip(pairs, correct, floor):
        per_paradigm[pair["UID"]].append(float(mine) - float(theirs))
    difference = _mean(_mean(values) for values in per_paradigm.values())
    error = _paradigm_mean_error(per_paradigm)
    return {"difference": difference, "difference_se": error,
            "distinguishable": abs(difference) > DISTINGUISHABLE_AT * error}


def verdict_line(comparisons: dict[str, dict | None]) -> str:
    """One plain line: is the model distinguishable from each floor (name -> `compare_with_floor`'s result, or
    None where that floor could not be measured), and by which rule."""
    said = []
    for name, comparison in comparisons.items():
        if comparison is None:
            said.append(f"{name}: not measured")
            continue
        points = f"{100 * comparison['difference']:+.1f} ± {100 * comparison['difference_se']:.1f} points"
        if comparison["distinguishable"]:
            side = "above" if comparison["difference"] > 0 else "below"
            said.append(f"distinguishable from {name} ({side} it: {points})")
        else:
            said.append(f"not distinguishable from {name} ({points})")
    rule = (f"a difference counts when it exceeds {DISTINGUISHABLE_AT:g} standard errors, paired over the same "
            "pairs")
    return f"verdict: {'; '.join(said)} (rule: {rule})"


def heldout_free_paragraphs(run_config: dict, *, num_proc=None):
    """The W_s paragraphs a pre-training run (tlm pretrain) trained on, rebuilt from its run_config.json:
    its corpus, less its held-out paragraphs, then its subset. Raises SettingsError / MissingFileError where the
    corpus cannot be read from here."""
    import dataclasses

    from ..data.corpus import split_heldout
    from ..settings import CorpusSettings, SubsetSettings, TaskSettings

    settings = run_config.get("settings", {})

    def build(kind):
        return kind(**{f.name: settings[f.name] for f in dataclasses.fields(kind) if f.name in settings})

    corpus, subset = build(CorpusSettings), build(SubsetSettings)
    paragraphs = corpus.load(num_proc=num_proc)
    if settings.get("heldout_size") and not settings.get("heldout_where"):
        paragraphs, _ = split_heldout(paragraphs, settings["heldout_size"], subset.subset_seed)
    task = build(TaskSettings)
    task_data = task.load() if subset.subset != "random" and task.resolve_name() else None
    return subset.build(paragraphs, task_data, None if task_data is None else _tokenizer_for(run_config))


def _tokenizer_for(run_config: dict):
    from ..data.tokenizer import load_tokenizer

    return load_tokenizer(run_config.get("settings", {}).get("tokenizer") or "bert-base-uncased")


def unigram_floor(folder: str, tokenizer, pairs: list[dict]) -> tuple[list[bool] | None, str]:
    """The unigram floor's decisions with token frequencies of the folder's own pre-training paragraphs, and how it
    was made (or, with None, why it could not be: no run_config.json, a byte-level model, a corpus not found)."""
    from ..errors import UserError
    from ..fileio import read_json
    from ..training.mlm import pretraining_stats

    path = Path(folder) / "run_config.json"
    if not path.is_file():
        return None, f"{folder} has no run_config.json naming its pre-training text"
    if getattr(tokenizer, "max_token_bytes", None):
        return None, "a byte-level model"
    try:
        paragraphs = heldout_free_paragraphs(read_json(path))
    except (UserError, OSError) as err:
        return None, f"its pre-training text cannot be read from here ({str(err).splitlines()[0]})"
    _, counts = pretraining_stats(paragraphs, None, tokenizer)
    how = f"token frequencies of its {len(paragraphs):,} pre-training paragraphs"
    return unigram_pairs(tokenizer, counts, pairs), how


# --- the published scores, and tables ------------------------------------------------------------------------


def published_scores(pairs: list[dict]) -> dict:
    """The BLiMP paper's models, keyed like `summarise`'s result ({model: {"overall", "fields", "phenomena",
    "paradigms"}}) over the paradigms present in `pairs`, grouped by the pairs' fields and phenomena (the released
    data calls two of the paper's argument-structure paradigms s-selection). Overall: the paper's own figure when
    every paradigm is present (5-gram 61.2, LSTM 69.8, TXL 69.6, GPT-2 83.0), else the mean over those present."""
    rows = _read_jsonl(SAMPLES / "blimp_published.jsonl", columns=())
    info = {pair["UID"]: pair for pair in pairs}
    paradigm_rows = [row for row in rows if row["UID"] in info]
    every_paradigm = len(paradigm_rows) == sum(row["UID"] != "overall" for row in rows)
    scores = {}
    for key in PUBLISHED_MODELS:
        paradigms = {row["UID"]: row[key] for row in paradigm_rows}
        groups = {"fields": defaultdict(list), "phenomena": defaultdict(list)}
        for uid, score in paradigms.items():
            groups["fields"][info[uid]["field"]].append(score)
            groups["phenomena"][info[uid]["linguistics_term"]].append(score)
        overall = next((row[key] for row in rows if row["linguistics_term"] == "overall"), None)
        scores[key] = {
            "overall": overall if every_paradigm else (_mean(paradigms.values()) if paradigms else None),
            **{section: {name: _mean(values) for name, values in group.items()} for section, group in groups.items()},
            "paradigms": paradigms,
        }
    return scores


def _percent(value) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def blimp_table(result: dict, published: dict, *, label: str = "this model", paradigms: bool = False,
                markdown: bool = False) -> str:
    """The model's scores beside the published ones (percent): overall, per field, per phenomenon (and paradigm)."""
    headers = ["", label, *PUBLISHED_MODELS.values()]
    rows = [["overall", result["overall"], *(published[key]["overall"] for key in PUBLISHED_MODELS)]]
    sections = [("fields", "field"), ("phenomena", "phenomenon")] + ([("paradigms", "paradigm")] if paradigms else [])
    for section, kind in sections:
        rows += [[f"{kind}: {name}", score, *(published[key][section].get(name) for key in PUBLISHED_MODELS)]
                 for name, score in result[section].items()]
    cells = [[name, *map(_percent, scores)] for name, *scores in rows]
    if result.get("standard_error") is not None:  # beside the score it belongs to
        cells[0][1] += f" ± {_percent(result['standard_error'])}"
    others = ", ".join(f"{name} {_percent(score)}" for name, score in OVERALL_ONLY.items())
    how = (f"BLiMP accuracy (%), mean over {result['num_paradigms']} paradigms (± its standard error over the pairs); "
           f"{result['pairs']:,} pairs scored by "
           f"pseudo-log-likelihood ({result['variant']}). Published overall: {others}.")
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "| --- |" + " ---: |" * (len(headers) - 1)]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        return how + "\n\n" + "\n".join(lines) + "\n"
    widths = [max(len(str(row[i])) for row in [headers, *cells]) for i in range(len(headers))]
    lines = ["  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(headers))]
    lines += ["  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)) for row in cells]
    return how + "\n" + "\n".join(lines) + "\n"
