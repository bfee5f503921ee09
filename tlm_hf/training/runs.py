"""Run files: atomic writes, JSON, a run's identity (run_config.json) and the claim on its output folder."""

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from ..errors import SettingsError


def atomic_write(path, data: str | bytes) -> None:
    """Write through a temporary sibling and `os.replace`: readers and interrupted runs never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with tempfile.NamedTemporaryFile(mode, dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        f.write(data)
    os.replace(f.name, path)


def write_json(path, data) -> None:
    atomic_write(path, json.dumps(data, indent=2, default=str) + "\n")


def read_json(path):
    return json.loads(Path(path).read_text())


# TrainingArguments that change what a run computes (not how fast or how it logs).
RUN_DEFINING_ARGS = (
    "learning_rate", "weight_decay", "num_train_epochs", "max_steps", "per_device_train_batch_size",
    "gradient_accumulation_steps", "lr_scheduler_type", "warmup_steps", "seed", "optim", "bf16", "fp16",
)


def run_config(settings, training_args) -> dict:
    """The run_config.json of a run: every script setting and the run-defining TrainingArguments."""
    merged = {}
    for part in settings:
        merged.update(asdict(part))
    merged.pop("resume", None)
    training = {name: getattr(training_args, name) for name in RUN_DEFINING_ARGS}
    training["world_size"] = training_args.world_size
    return json.loads(json.dumps({"settings": merged, "training": training}, default=str))


def claim_run_dir(run_dir, config: dict, *, write: bool) -> None:
    """Refuse a folder that holds another run's run_config.json; else (on the main process) record ours."""
    path = Path(run_dir) / "run_config.json"
    if path.exists():
        old = json.loads(path.read_text())
        for section in ("settings", "training"):
            for key in sorted(set(old.get(section, {})) | set(config[section])):
                before, now = old.get(section, {}).get(key), config[section].get(key)
                if before != now:
                    raise SettingsError(
                        f"{run_dir} already holds a different run ({key} was {before!r}, now {now!r}); "
                        "choose another --output_dir or delete that folder"
                    )
    if write:
        write_json(path, config)
