"""Publish a run folder to the Hub: export a Hub-ready folder, prove it loads, then upload.

The proof runs in a fresh Python process in which `import tlm_hf` fails, exactly as for a Hub user
without our package: the folder must carry its model code (`auto_map` + `.py` files).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from huggingface_hub import HfApi, get_token

from ..data.files import data_name
from ..fileio import read_json, write_json
from ..training.runs import model_folder_config
from ..errors import UserError
from .model_card import run_kind, write_model_card

# What a model folder needs on the Hub, by name: weights, config, tokenizer, and the run's own records; plus the
# model code that config.json names (auto_map, custom_pipelines) and the files that code imports. Nothing else in
# a run folder is exported (a stray secrets.json or notes.txt stays behind, and is listed).
_MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                    "vocab.txt", "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model")
_RUN_FILES = ("run_config.json", "pretraining_stats.json", "results.json", "results.csv", "results.md")

# Written into every export folder: the files the export wrote. An existing export folder is replaced only when
# it holds this marker and nothing else than what it lists; never a folder that holds the run.
EXPORT_MARKER = ".tlm_export.json"

# Run by `verify_export` with the folder and the run kind as arguments.
VERIFY_SCRIPT = """
import json, sys

class RefuseTlmHf:  # as on a machine where tlm_hf is not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tlm_hf":
            raise ImportError("tlm_hf is not importable in this check")

sys.meta_path.insert(0, RefuseTlmHf())
import torch
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer, pipeline

folder, kind = sys.argv[1], sys.argv[2]
auto_class = AutoModelForMaskedLM if kind == "pretrained" else AutoModelForSequenceClassification
model = auto_class.from_pretrained(folder, trust_remote_code=True).eval()
tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)  # reads config.json too
inputs = tokenizer(["A short sentence to check the model."], return_tensors="pt", truncation=True,
                   max_length=model.config.max_position_embeddings if hasattr(model.config, "max_position_embeddings") else 128)
with torch.no_grad():
    logits = model(**inputs).logits
assert torch.isfinite(logits).all(), "the forward pass gave non-finite logits"
report = {"class": type(model).__name__, "logits_shape": list(logits.shape)}
if kind != "pretrained":
    report["pipeline"] = pipeline("text-classification", model=model, tokenizer=tokenizer)("A short sentence.")
for task in (getattr(model.config, "custom_pipelines", None) or {}):
    report[task] = pipeline(task, model=folder, trust_remote_code=True)("A short sentence.")
assert "tlm_hf" not in sys.modules
print(json.dumps(report, default=str))
"""


class PublishError(UserError):
    """A publishing step failed; the message says why and where the exported folder is."""


def model_folder_files(run_dir: str | Path) -> list[Path]:
    """The files of `run_dir` that a Hub model folder needs (see _MODEL_FILES and friends), by explicit name."""
    from transformers.dynamic_module_utils import get_relative_import_files

    run_dir = Path(run_dir)
    names = {*_MODEL_FILES, *_TOKENIZER_FILES, *_RUN_FILES}
    names |= {path.name for path in run_dir.glob("model-*-of-*.safetensors")}  # shards of a large model

    def optional_json(name):
        return json.loads((run_dir / name).read_text()) if (run_dir / name).is_file() else {}

    config, tokenizer_config = optional_json("config.json"), optional_json("tokenizer_config.json")
    references = [*(config.get("auto_map") or {}).values(),  # model code; a custom tokenizer's (byte-level input)
                  *(tokenizer_config.get("auto_map") or {}).values(),
                  *(p.get("impl", "") for p in (config.get("custom_pipelines") or {}).values())]
    for reference in references:
        for name in reference if isinstance(reference, list) else [reference]:
            module = run_dir / f"{(name or '').split('--')[-1].rsplit('.', 1)[0]}.py"
            if module.is_file():
                names |= {module.name, *(Path(f).name for f in get_relative_import_files(module))}
    return sorted(run_dir / name for name in names if (run_dir / name).is_file())


def _replaceable_export(run_dir: Path, export_dir: Path) -> None:
    """Refuse an export folder that is or holds the run, or holds anything an export did not write."""
    run, export = run_dir.resolve(), export_dir.resolve()
    if export == run or export in run.parents:
        raise PublishError(f"--export-dir {export_dir} is or contains the run folder {run_dir}; choose a new folder, "
                           f"e.g. {run_dir / 'hub_export'}")
    if not export.exists():
        return
    if not export.is_dir():
        raise PublishError(f"--export-dir {export_dir} is a file; choose a new folder")
    present = {path.name for path in export.iterdir()} - {EXPORT_MARKER}
    if not present:
        return
    marker = export / EXPORT_MARKER
    written = set(json.loads(marker.read_text()).get("files", [])) if marker.is_file() else None
    if written is None or not present <= written:
        strange = sorted(present - (written or set()))
        raise PublishError(f"--export-dir {export_dir} holds files tlm publish did not write ({', '.join(strange[:3])}"
                           f"{', ...' if len(strange) > 3 else ''}); choose a new or empty folder")


def without_local_paths(value):
    """A run file's content with every absolute path cut to its file or folder name: the user's folders stay home."""
    if isinstance(value, dict):
        return {key: without_local_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_local_paths(item) for item in value]
    if isinstance(value, str) and os.path.isabs(value.split("=", 1)[-1].split(",")[0]):
        return ",".join(f"{key}{sep}{data_name(path)}" for key, sep, path in
                        (part.rpartition("=") for part in value.split(",")))
    return value


_SHAPE_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "num_conv_layers",
                 "classifier_pooling", "vocab_size")


def _shape(config: dict) -> dict:
    return {key: config[key] for key in _SHAPE_FIELDS if key in config}


def with_model_shape(run_config: dict, folder: Path) -> dict:
    """An exported run_config.json that names the model it made: `preset` as the run used it (a fine-tune or a
    committee records the parser's default there, though its architecture comes from the pre-trained folder: the
    folder's preset where it can be read, else none) and `model_shape`, read off the saved config.json."""
    config = json.loads((folder / "config.json").read_text())
    settings = dict(run_config.get("settings") or {})
    if settings.get("members"):
        settings["preset"] = None  # each member's shape is below
    elif settings.get("pretrained") and "preset" in settings:
        parent = Path(settings["pretrained"]) / "run_config.json"
        settings["preset"] = (read_json(parent).get("settings") or {}).get("preset") if parent.is_file() else None
    shape = ({"members": [_shape(member) for member in config["members"]]} if "members" in config
             else _shape(config))
    return {**run_config, "settings": settings, "model_shape": shape}


def export_run(run_dir: str | Path, export_dir: str | Path, *, repo_id: str, scratch_run=None) -> list[Path]:
    """Copy what belongs on the Hub (`model_folder_files`) into `export_dir` and render its model card there.

    An existing `export_dir` is replaced only if an earlier export wrote everything in it (its EXPORT_MARKER says
    so); a folder that is or holds the run, or holds anything else, is refused and left untouched."""
    run_dir, export_dir = Path(run_dir), Path(export_dir)
    run_kind(run_dir)  # a run folder with a readable config.json, before anything is written
    model_folder_config(run_dir, role="tlm publish")  # and readable weights: a broken file is named in the run
    _replaceable_export(run_dir, export_dir)
    if export_dir.exists():
        shutil.rmtree(export_dir)
    export_dir.mkdir(parents=True)
    (export_dir / EXPORT_MARKER).write_text(json.dumps({"written_by": "tlm publish", "files": []}))
    for path in model_folder_files(run_dir):
        shutil.copy2(path, export_dir / path.name)
    write_model_card(export_dir, repo_id=repo_id, scratch_run=scratch_run)
    for name in _RUN_FILES:  # after the card, which may follow a path to the pre-trained folder
        if name.endswith(".json") and (export_dir / name).is_file():
            content = read_json(export_dir / name)
            if name == "run_config.json":
                content = with_model_shape(content, export_dir)
            write_json(export_dir / name, without_local_paths(content))
    files = sorted(path for path in export_dir.iterdir() if path.name != EXPORT_MARKER)
    (export_dir / EXPORT_MARKER).write_text(json.dumps({"written_by": "tlm publish", "files": [f.name for f in files]}))
    return files


def left_behind(run_dir: str | Path, export_dir: str | Path) -> list[str]:
    """What the export did not take from the run folder (folders end in /), for the user to see."""
    exported = {path.name for path in model_folder_files(run_dir)}
    export = Path(export_dir).resolve()
    return [path.name + ("/" if path.is_dir() else "") for path in sorted(Path(run_dir).iterdir())
            if path.name not in exported and path.resolve() != export]


def verify_export(export_dir: str | Path) -> dict:
    """Load the folder through the Auto classes (and pipelines) where tlm_hf is not importable.

    The check runs inside the folder (no tlm_hf source tree in its way), so it gets the absolute path: a relative
    one would name a folder that is not there and read as a Hub repo id."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    export_dir = Path(export_dir).resolve()
    result = subprocess.run(
        [sys.executable, "-c", VERIFY_SCRIPT, str(export_dir), run_kind(export_dir)],
        capture_output=True, text=True, env=env, cwd=export_dir, timeout=600, stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        last_line = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise PublishError(f"{export_dir} does not load without tlm_hf: {last_line}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def hub_token(token: str | None = None, *, where: str) -> str:
    """The token to upload with; fails in one line when offline or without one (`where` says what is kept)."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        raise PublishError(f"HF_HUB_OFFLINE is set, so nothing can be uploaded; unset it on a machine with network ({where}).")
    token = token or get_token()
    if token is None:
        raise PublishError(f"No Hugging Face token: set HF_TOKEN or run `hf auth login`, then publish again ({where}).")
    return token


def upload(
    export_dir: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None,
    token: str | None = None,
) -> str:
    """Create the repo (and branch) and upload the folder. Fails early, in one line, without token or network."""
    where = f"the exported folder is kept at {export_dir}"
    api = HfApi(token=hub_token(token, where=where))
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id, folder_path=export_dir, revision=revision, commit_message="Upload with tlm publish",
            ignore_patterns=[EXPORT_MARKER],
        )
    except Exception as err:  # HTTP errors, connection and DNS failures of whichever client the Hub library uses
        raise PublishError(f"Upload to {repo_id} failed: {err} ({where}).") from err
    return commit.commit_url


def publish(
    run_dir: str | Path, repo_id: str, *, export_dir: str | Path | None = None, private: bool = False,
    revision: str | None = None, dry_run: bool = False, scratch_run=None, token: str | None = None,
) -> dict:
    """Export, verify, then (unless `dry_run`) upload. Returns what was done, for the CLI to print."""
    export_dir = Path(export_dir) if export_dir else Path(run_dir) / "hub_export"
    files = export_run(run_dir, export_dir, repo_id=repo_id, scratch_run=scratch_run)
    report = dict(export_dir=str(export_dir), files=[(f.name, f.stat().st_size) for f in files],
                  left_behind=left_behind(run_dir, export_dir))
    report["verified"] = verify_export(export_dir)
    if not dry_run:
        report["url"] = upload(export_dir, repo_id, private=private, revision=revision, token=token)
    return report


def take_over_trainer_push(args) -> bool:
    """Claim `--push_to_hub` from Trainer, which would push its checkpoint folder without our card.

    Returns whether to push the finished run folder with `push_run`, after checking the token now,
    so a run that cannot be uploaded fails before training rather than after it.
    """
    push, args.push_to_hub = args.push_to_hub, False
    if push:
        hub_token(args.hub_token, where="nothing was trained yet")
    return push


def push_run(run_dir: str | Path, args) -> str:
    """Publish a finished run folder (card, verification, upload) to `--hub_model_id` (default: its name)."""
    repo_id = args.hub_model_id or Path(run_dir).resolve().name
    report = publish(run_dir, repo_id, private=bool(args.hub_private_repo), revision=args.hub_revision,
                     token=args.hub_token)
    return report["url"]
