"""Run folders: the claim on a run's output folder, its checkpoints (resume from the newest complete one), what its
log history says, and loading a saved model folder with a one-line error. (What defines a run: run_definition.py;
atomic writes and JSON: tlm_hf.fileio.)"""

import fcntl
import json
import os
import re
from pathlib import Path

from ..errors import SettingsError
from ..fileio import atomic_write, read_json, write_json  # noqa: F401  (the scripts import them from here)
from .run_definition import first_difference, run_config  # noqa: F401  (run_config: the scripts import it here)




# Open lock files of the run folders this process claimed: the locks last as long as the process.
_CLAIMED: dict[Path, int] = {}


def lock_run_dir(run_dir) -> None:
    """An exclusive lock on RUN_DIR/.run.lock for the life of this process; refuse a folder another process holds.

    `flock` is atomic and the kernel releases it when the process ends, however it ends: a crashed or killed
    run never leaves its folder locked. Claiming the same folder twice in one process is fine.
    """
    run_dir = Path(run_dir).resolve()
    if run_dir in _CLAIMED:
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / ".run.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise SettingsError(
            f"{run_dir} has a run in progress (process {holder}); wait for it to finish or choose another --output_dir"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _CLAIMED[run_dir] = fd


def release_run_dirs() -> None:
    """Unlock every folder this process claimed: a worker process that runs many runs releases each run's."""
    while _CLAIMED:
        os.close(_CLAIMED.popitem()[1])


def claim_run_dir(run_dir, config: dict, *, main_process: bool) -> None:
    """Refuse a folder with a run in progress or that holds another run's run_config.json; else (on the main
    process, which locks the folder for its lifetime: see `lock_run_dir`) record ours.

    A claim that no run used (run_config.json, but no checkpoint, weights or results: the run was refused or
    stopped before saving anything) is taken over, so the corrected command runs where the refused one did not."""
    if main_process:
        lock_run_dir(run_dir)
    path = Path(run_dir) / "run_config.json"
    if path.exists() and run_dir_is_used(run_dir):
        difference = first_difference(json.loads(path.read_text()), config)
        if difference is not None:
            key, before, now = difference
            raise SettingsError(
                f"{run_dir} already holds a different run ({key} was {before!r}, now {now!r}); "
                "choose another --output_dir or delete that folder"
            )
    if main_process:
        write_json(path, config)


# Written last by each script: a finished run.
DONE_FILES = ("pretraining_stats.json", "results.json")


def run_dir_is_used(run_dir) -> bool:
    """Whether a run saved anything in `run_dir`: a checkpoint, model weights or its done file."""
    run_dir = Path(run_dir)
    saved = (*WEIGHTS_FILES, *DONE_FILES)
    return any((run_dir / name).exists() for name in saved) or any((run_dir / "checkpoints").glob("checkpoint-*"))


# --- checkpoints: resume from the newest complete one ---------------------------------------------------------

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_is_complete(checkpoint) -> bool:
    """Trainer writes a checkpoint's weights, optimizer and scheduler, then trainer_state.json last: a checkpoint is
    complete when trainer_state.json parses and the weights file's header loads (a kill mid-save fails one)."""
    from safetensors import safe_open

    checkpoint = Path(checkpoint)
    try:
        json.loads((checkpoint / "trainer_state.json").read_text())
        weights = checkpoint / "model.safetensors"
        if weights.is_file():
            with safe_open(str(weights), framework="pt"):
                pass
        elif not (checkpoint / "pytorch_model.bin").is_file():
            return False
    except Exception:  # missing, truncated or corrupt: JSONDecodeError, OSError, SafetensorError
        return False
    return True


def last_complete_checkpoint(checkpoints_dir) -> str | None:
    """The newest complete `checkpoint-N` folder in `checkpoints_dir` (None if there is none); half-written ones
    (a run killed while saving) are skipped, so a resume falls back to the checkpoint before."""
    folder = Path(checkpoints_dir)
    if not folder.is_dir():
        return None
    steps = sorted(((int(m.group(1)), p) for p in folder.iterdir() if (m := _CHECKPOINT.match(p.name)) and p.is_dir()),
                   reverse=True)
    return next((str(path) for _, path in steps if checkpoint_is_complete(path)), None)


def resume_checkpoint(checkpoints_dir, resume: bool) -> str | None:
    """With `resume` (--resume), the checkpoint to continue from; a one-line error when there is none."""
    if not resume:
        return None
    checkpoint = last_complete_checkpoint(checkpoints_dir)
    if checkpoint is None:
        raise SettingsError(f"--resume: no checkpoint in {checkpoints_dir} is complete; run without --resume to start afresh")
    return checkpoint


def run_train_loss(log_history: list[dict]) -> float | None:
    """The mean training loss of the whole run, resumed parts included, from Trainer's log history (restored on
    resume): each logged `loss` is the mean over the steps since the previous one, so weight it by them.
    None when no loss was logged (`result.training_loss` covers only the last session, 0.0 when it ran no step)."""
    total, previous_step, steps = 0.0, 0, 0
    for entry in log_history:
        if "loss" in entry and "step" in entry:
            span = entry["step"] - previous_step
            total, steps, previous_step = total + entry["loss"] * span, steps + span, entry["step"]
    return total / steps if steps else None


def evaluations_to_the_end(trainer, metric: str) -> list[dict]:
    """The log entries holding `metric`, the last of them the final model's: evaluated here when Trainer's last
    evaluation came before the last step (eval_steps that do not divide the run) or none ran (eval_strategy no)."""
    evaluations = [entry for entry in trainer.state.log_history if metric in entry]
    if not evaluations or evaluations[-1].get("step") != trainer.state.global_step:
        trainer.evaluate()  # logged, with its step, into log_history
        evaluations = [entry for entry in trainer.state.log_history if metric in entry]
    return evaluations


# --- saved model folders --------------------------------------------------------------------------------------

WEIGHTS_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def model_folder_config(folder, *, role: str, weights: bool = True) -> dict:
    """config.json of a saved model folder, after checking the folder, that file and (with `weights`) the weights:
    a one-line SettingsError naming `role` (e.g. "--pretrained"), the folder, the file and the fix."""
    folder = Path(folder)
    written_by = "a folder written by save_pretrained (a training run's --output_dir)"
    if not folder.is_dir():
        raise SettingsError(f"{role} {folder} is not a folder; give {written_by}")
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise SettingsError(f"{role} {folder} has no config.json; give {written_by}")
    try:
        config = json.loads(config_file.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise SettingsError(f"{role}: {config_file} is corrupt ({err}); restore it or rerun the run that wrote it") from None
    if not isinstance(config, dict):
        raise SettingsError(f"{role}: {config_file} is corrupt (not a JSON object); restore it or rerun the run that wrote it")
    if weights:
        found = next((folder / name for name in WEIGHTS_FILES if (folder / name).is_file()), None)
        if found is None:
            raise SettingsError(f"{role} {folder} has no model.safetensors; the run did not finish, or give {written_by}")
        if found.name == "model.safetensors":
            from safetensors import safe_open

            try:
                with safe_open(str(found), framework="pt"):
                    pass
            except Exception as err:
                raise SettingsError(
                    f"{role}: {found} is corrupt ({_first_line(err)}); restore it or rerun the run that wrote it"
                ) from None
    return config


def load_model_folder(model_class, folder, *, role: str, checked: bool = False, **kwargs):
    """`model_class.from_pretrained(folder, **kwargs)` after `model_folder_config`'s checks (unless the caller
    `checked` the folder already), any loading error turned into one line naming `role` and the folder."""
    if not checked:
        model_folder_config(folder, role=role)
    try:
        return model_class.from_pretrained(folder, **kwargs)
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise SettingsError(f"cannot load {role} {folder}: {_first_line(err)}") from err


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
