"""Nothing lost, nothing silent: bad input and interruptions end in one line, never in lost data or wrong numbers.

Each test names the behaviour a user can rely on: exports that never delete what they did not write, cache keys
that follow every setting that changes a run, resumes from the newest complete checkpoint, one run per folder at a
time, and one-line errors for bad files, folders and settings wherever they can occur.
"""

import gzip
import json
import logging
import re
import runpy
import shutil
import subprocess
import sys

import pytest
import yaml
from data_helpers import make_task, make_tokenizer
from safetensors.torch import save_file
from test_hub import LABELS, RUN_CONFIG, STATS, save_run, tiny_config
from training_helpers import REPO, TINY_MODEL, run_script, tiny_files

from tlm_hf import ConvBertForMaskedLM, ConvBertForSequenceClassification, SoftCommitteeForSequenceClassification
from tlm_hf.arguments import read_yaml
from tlm_hf.cli import main as tlm_main
from tlm_hf.data.corpus import load_paragraphs
from tlm_hf.hub.publish import export_run, left_behind
from tlm_hf.settings import (
    CorpusSettings,
    ExperimentSettings,
    ModelSettings,
    SettingsError,
    TaskSettings,
    TokenizerSettings,
)
from tlm_hf.training.experiments import plan_experiment
from tlm_hf.training.finetuning import build_classifier, initial_classifier
from tlm_hf.training.runs import claim_run_dir, last_complete_checkpoint




def tiny_mlm_folder(folder, tokenizer, **overrides):
    config = ModelSettings(preset="bert-1-h24", config_overrides=TINY_MODEL).config(tokenizer, **overrides)
    ConvBertForMaskedLM(config).save_pretrained(folder)
    return folder


# --- 1. an export replaces only a folder it wrote itself ---------------------------------------------------------


@pytest.fixture
def pretrained_run(tmp_path):
    return save_run(tmp_path / "runs" / "pretrain", ConvBertForMaskedLM(tiny_config()), pretraining_stats=STATS,
                    run_config=RUN_CONFIG)


def test_export_into_the_runs_parent_is_refused_and_deletes_nothing(pretrained_run, capsys):
    before = sorted(p.relative_to(pretrained_run.parent) for p in pretrained_run.parent.rglob("*"))
    code = tlm_main(["publish", str(pretrained_run), "--repo-id", "a/b", "--dry-run",
                     "--export-dir", str(pretrained_run.parent)])
    assert code == 2
    assert "is or contains the run folder" in capsys.readouterr().err
    assert sorted(p.relative_to(pretrained_run.parent) for p in pretrained_run.parent.rglob("*")) == before
    with pytest.raises(Exception, match="is or contains the run folder"):
        export_run(pretrained_run, pretrained_run, repo_id="a/b")


def test_export_refuses_a_folder_holding_files_it_did_not_write_and_replaces_its_own(pretrained_run, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("years of work")
    with pytest.raises(Exception, match=r"holds files tlm publish did not write \(thesis.tex\)"):
        export_run(pretrained_run, foreign, repo_id="a/b")
    assert (foreign / "thesis.tex").read_text() == "years of work"

    export = tmp_path / "export"
    first = export_run(pretrained_run, export, repo_id="a/b")
    again = export_run(pretrained_run, export, repo_id="a/b")  # its own earlier export is replaced
    assert [p.name for p in again] == [p.name for p in first]
    (export / "notes.txt").write_text("added by hand")
    with pytest.raises(Exception, match=r"did not write \(notes.txt\)"):
        export_run(pretrained_run, export, repo_id="a/b")
    assert (export / "notes.txt").exists()


def test_export_takes_only_what_a_model_folder_needs_and_lists_what_it_left(pretrained_run, tmp_path):
    (pretrained_run / "secrets.json").write_text('{"token": "hf_x"}')
    (pretrained_run / "notes.txt").write_text("todo")
    (pretrained_run / "helper.py").write_text("print('not model code')")
    names = {p.name for p in export_run(pretrained_run, tmp_path / "export", repo_id="a/b")}
    assert {"config.json", "model.safetensors", "configuration_conv_bert.py", "modeling_conv_bert.py", "tokenizer.json",
            "tokenizer_config.json", "pretraining_stats.json", "run_config.json", "README.md"} <= names
    assert not names & {"secrets.json", "notes.txt", "helper.py", "trainer_state.json"}
    assert {"secrets.json", "notes.txt", "helper.py", "trainer_state.json", "checkpoints/"} <= set(
        left_behind(pretrained_run, tmp_path / "export"))


# --- 2. the experiment's cache key covers every setting that changes a run ---------------------------------------


def plan(**experiment):
    exp = ExperimentSettings(output_dir="runs/x", w_s=["100"], seeds=[0], **experiment)
    return plan_experiment(exp, CorpusSettings(), TaskSettings(task="ag_news"), ModelSettings(), TokenizerSettings())


def folders(experiment_plan, stage: str, arm: str = "") -> set:
    return {run.run_dir for run in experiment_plan.runs() if run.stage == stage and arm in run.run_dir.name}


@pytest.mark.parametrize("flag", ["max_steps=10", "gradient_accumulation_steps=2", "warmup_steps=5"])
def test_a_training_flag_in_pretrain_args_gives_a_new_run_folder(flag):
    base, changed = plan(), plan(pretrain_args=flag)
    assert folders(changed, "pretraining").isdisjoint(folders(base, "pretraining"))
    # its fine-tunes follow it; the scratch arm does not read it
    assert folders(changed, "finetuning", "pretrained").isdisjoint(folders(base, "finetuning", "pretrained"))
    assert folders(changed, "finetuning", "scratch") == folders(base, "finetuning", "scratch")
    assert folders(plan(finetune_args=flag), "finetuning", "scratch").isdisjoint(folders(base, "finetuning", "scratch"))


def test_a_speed_only_flag_keeps_the_run_folder():
    base = plan()
    fast = plan(pretrain_args="dataloader_num_workers=4", finetune_args="dataloader_num_workers=4")
    assert [run.run_dir for run in fast.runs()] == [run.run_dir for run in base.runs()]


def test_experiment_plan_refuses_a_bad_setting_of_any_run_before_the_first_starts():
    with pytest.raises(SettingsError, match="unknown setting 'learnig_rate'; did you mean 'learning_rate'"):
        plan(finetune_args="learnig_rate=1e-4")
    with pytest.raises(SettingsError, match="'hiden_size' is not a field.*did you mean 'hidden_size'"):
        plan_experiment(ExperimentSettings(output_dir="x"), CorpusSettings(), TaskSettings(task="ag_news"),
                        ModelSettings(config_overrides="hiden_size=32"), TokenizerSettings())


# --- 3. config overrides: unknown fields refused, and only what can apply to a pre-trained folder ----------------


def test_misspelled_config_override_is_refused_with_the_nearest_field(tmp_path):
    with pytest.raises(SettingsError, match="'hiden_dropout_prob' is not a field.*did you mean 'hidden_dropout_prob'"):
        ModelSettings(config_overrides="hiden_dropout_prob=0.5").config(make_tokenizer(tmp_path))


def test_architecture_override_on_a_pretrained_folder_is_refused_and_dropout_is_applied(tmp_path):
    tokenizer = make_tokenizer(tmp_path / "tokenizer")
    folder = tiny_mlm_folder(tmp_path / "mlm", tokenizer)
    task = make_task(["the cat ."], ["a dog ."])
    with pytest.raises(SettingsError, match=r"config_overrides num_hidden_layers=3 cannot apply to --pretrained .*"
                                            r"only hidden_dropout_prob, attention_probs_dropout_prob"):
        initial_classifier(task, tokenizer, pretrained=str(folder),
                           model_settings=ModelSettings(config_overrides="num_hidden_layers=3"))
    overrides = "hidden_dropout_prob=0.3,unpad_tokens=true,fast_dropout=true"
    model = initial_classifier(task, tokenizer, pretrained=str(folder), model_settings=ModelSettings(config_overrides=overrides))
    # applied, as run_config.json records them: dropout, and the two speed switches (their old spelling)
    assert (model.config.hidden_dropout_prob, model.config.unpad_tokens, model.config.fast_dropout) == (0.3, True, True)


def test_a_config_override_of_the_wrong_type_is_refused_in_one_line_naming_the_field(tmp_path):
    with pytest.raises(SettingsError, match=r"^config_overrides: Field 'unpad_tokens' expected bool, got str "
                                            r"\(value: 'maybe'\); give a value of that type$"):
        ModelSettings(config_overrides="unpad_tokens=maybe").config(make_tokenizer(tmp_path / "t"))
    with pytest.raises(SettingsError, match=r"^config_overrides: Field 'share_ffn' expected bool"):
        ModelSettings(config_overrides="share_ffn=maybe").check()
    tokenizer = make_tokenizer(tmp_path / "tokenizer")
    folder = tiny_mlm_folder(tmp_path / "mlm", tokenizer)
    with pytest.raises(SettingsError, match=r"^config_overrides: Field 'fast_dropout' expected bool, got int"):
        initial_classifier(make_task(["the cat ."], ["a dog ."]), tokenizer, pretrained=str(folder),
                           model_settings=ModelSettings(config_overrides="fast_dropout=2"))


# --- 4. the pre-trained arm takes MLM folders only ---------------------------------------------------------------


def test_pretrained_arm_refuses_a_fine_tuned_classifier_folder(tmp_path):
    tokenizer = make_tokenizer(tmp_path / "tokenizer")
    config = ModelSettings(preset="bert-1-h24", config_overrides=TINY_MODEL).config(tokenizer)
    ConvBertForSequenceClassification(config).save_pretrained(tmp_path / "clf")
    with pytest.raises(SettingsError, match=r"--pretrained .*clf holds a ConvBertForSequenceClassification model; "
                                            r"the pre-trained arm takes an MLM folder written by tlm pretrain"):
        build_classifier(make_task(["the cat ."], ["a dog ."]), tokenizer, pretrained=tmp_path / "clf")


# --- 5. one task file: one rule, said in one line ----------------------------------------------------------------


def test_one_task_file_is_split_per_label_and_a_test_file_alone_is_refused(tmp_path, caplog):
    settings = tiny_files(tmp_path)
    task = TaskSettings(task="tiny", text_column="text", label_column="label", train_per_label=8, test_per_label=8,
                        task_data=f"train={settings['task_data']}")
    with caplog.at_level(logging.WARNING, logger="tlm_hf.data.tasks"):
        data = task.load()
    assert (len(data["train"]), len(data["test"])) == (16, 16)
    assert "split per label by task_seed into disjoint train 16, test 16 examples" in caplog.text
    task.task_data = f"test={settings['task_data']}"
    with pytest.raises(ValueError, match="task_data has test=.* but no train file; give train=FILE,test=FILE"):
        task.load()


# --- 6, 7, 9. interruptions: resume from the newest complete checkpoint, the whole run's loss ------------------


def test_newest_complete_checkpoint_skips_a_half_written_one(tmp_path):
    import torch

    for step in (2, 4, 6):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        save_file({"w": torch.zeros(2)}, folder / "model.safetensors")
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (tmp_path / "checkpoint-6" / "trainer_state.json").write_text('{"global_st')  # killed while writing
    weights = (tmp_path / "checkpoint-4" / "model.safetensors").read_bytes()
    (tmp_path / "checkpoint-4" / "model.safetensors").write_bytes(weights[:20])
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    assert last_complete_checkpoint(tmp_path / "absent") is None


def test_pretrain_resume_after_a_kill_mid_save_and_records_the_whole_runs_loss(tmp_path):
    out = tmp_path / "pretrain"
    # 4 steps = one epoch of 32 paragraphs: Trainer 5.23 resumed at a max_steps that ends mid-epoch trains one more
    settings = {**tiny_files(tmp_path), "w_s": 32, "per_device_train_batch_size": 8, "max_steps": 4,
                "save_strategy": "steps", "save_steps": 2, "logging_strategy": "steps", "logging_steps": 1,
                "learning_rate": 1e-3, "output_dir": str(out), "disable_tqdm": True, "heldout_size": 0}
    run_script("pretrain.py", settings)
    whole_run = json.loads((out / "pretraining_stats.json").read_text())["train_loss"]
    assert json.loads((out / "pretraining_stats.json").read_text())["timed_steps"] == 4
    losses = [e["loss"] for e in json.loads((out / "checkpoints" / "checkpoint-4" / "trainer_state.json").read_text())
              ["log_history"] if "loss" in e]
    assert whole_run == pytest.approx(sum(losses) / 4)

    # killed after its last checkpoint, before its statistics: the resumed run trains no step, but knows its loss
    (out / "pretraining_stats.json").unlink()
    run_script("pretrain.py", settings, "--resume")
    resumed = json.loads((out / "pretraining_stats.json").read_text())
    assert resumed["train_loss"] == pytest.approx(whole_run) and resumed["timed_steps"] == 0

    # killed while writing checkpoint-4: resume falls back to checkpoint-2
    state = out / "checkpoints" / "checkpoint-4" / "trainer_state.json"
    state.write_text(state.read_text()[:40])
    (out / "pretraining_stats.json").unlink()
    run_script("pretrain.py", settings, "--resume")
    stats = json.loads((out / "pretraining_stats.json").read_text())
    history = json.loads(state.read_text())["log_history"]
    assert stats["global_step"] == 4 and [e["step"] for e in history if "loss" in e] == [1, 2, 3, 4]
    assert stats["timed_steps"] == 2  # its train_runtime_s covers steps 3-4 only
    assert history[0]["loss"] == losses[0]  # steps 1-2 restored from checkpoint-2, 3-4 trained again
    assert stats["train_loss"] == pytest.approx(sum(e["loss"] for e in history if "loss" in e) / 4)


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    """A scratch fine-tune of two epochs with a checkpoint per epoch: (its settings, its folder)."""
    folder = tmp_path_factory.mktemp("finetuned")
    settings = {key: value for key, value in tiny_files(folder).items() if key != "corpus"}
    settings.update(scratch=True, num_train_epochs=2, learning_rate=1e-3, per_device_train_batch_size=4, seed=3,
                    save_strategy="epoch", output_dir=str(folder / "run"), disable_tqdm=True)
    run_script("finetune.py", settings)
    return settings, folder / "run"


def test_finetune_resumes_like_pretrain(finetuned, tmp_path):
    settings, run = finetuned
    out = tmp_path / "run"
    shutil.copytree(run, out, ignore=shutil.ignore_patterns(".run.lock"))
    settings = {**settings, "output_dir": str(out)}
    # interrupted after epoch 1: only checkpoint-4 is left; mark its test accuracy to see it carried over
    (out / "results.json").unlink()
    shutil.rmtree(out / "checkpoints" / "checkpoint-8")
    state_file = out / "checkpoints" / "checkpoint-4" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    next(e for e in state["log_history"] if "eval_accuracy" in e)["eval_accuracy"] = 0.123
    state_file.write_text(json.dumps(state))
    run_script("finetune.py", settings, "--resume")
    results = json.loads((out / "results.json").read_text())
    assert results["accuracy_per_epoch"][0] == 0.123 and len(results["accuracy_per_epoch"]) == 2

    with pytest.raises(SystemExit, match="--resume: no checkpoint in .*; run without --resume"):
        run_script("finetune.py", {**settings, "output_dir": str(tmp_path / "fresh")}, "--resume")


def test_saved_tokenizer_carries_the_models_maximum_length_so_pipelines_truncate(finetuned):
    from transformers import AutoTokenizer, pipeline

    _, run = finetuned
    assert AutoTokenizer.from_pretrained(run).model_max_length == 128
    (answer,) = pipeline("text-classification", model=str(run))(" ".join(["cat"] * 300), truncation=True)
    assert answer["label"] in ("0", "1")


# --- 8. one run per folder at a time ------------------------------------------------------------------------------


def test_a_folder_with_a_run_in_progress_is_refused_until_that_process_ends(tmp_path):
    config = {"settings": {"w_s": 2000}, "training": {"learning_rate": 5e-5}}
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from tlm_hf.training.runs import claim_run_dir; "
         f"claim_run_dir(sys.argv[1], {config!r}, main_process=True); print('claimed', flush=True); time.sleep(60)",
         str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "claimed"
        with pytest.raises(SettingsError, match=rf"{tmp_path} has a run in progress \(process {holder.pid}\); wait"):
            claim_run_dir(tmp_path, config, main_process=True)  # the same run's settings: still refused while it runs
    finally:
        holder.kill()
        holder.wait()
    claim_run_dir(tmp_path, config, main_process=True)  # the lock died with its process


# --- one-line errors wherever the mistake can occur ---------------------------------------------------------------


def test_yaml_that_does_not_parse_is_one_line_with_its_position(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("task: ag_news\nseeds: [0, 1\n")
    with pytest.raises(SettingsError, match=r"c.yaml is not valid YAML at line \d+, column \d+ .*; fix the file"):
        read_yaml(config)


ROWS = "".join(json.dumps({"text": f"paragraph {i} é", "label": i % 2}, ensure_ascii=False) + "\n" for i in range(300))


@pytest.mark.parametrize("name, content, message", [
    ("empty.jsonl", b"", r"empty.jsonl is empty \(no rows\); give a file with data"),
    ("blank.txt", b"\n\n", r"blank.txt gives no paragraphs of at least 1 characters; check the file"),
    ("cut.jsonl.gz", gzip.compress(ROWS.encode())[:400], r"cut.jsonl.gz is truncated or not valid gz .*copy or download"),
    ("latin.jsonl", ROWS.encode("latin-1"), r"latin.jsonl, line 1, is not UTF-8 \(byte 0xe9\); convert the file"),
    ("row.jsonl", (ROWS[:200] + '{"text": "unclosed\n' + ROWS[200:]).encode(),
     r"row.jsonl, line \d+, is not valid JSON .*; fix or remove that line"),
    ("body.jsonl", b'{"body": "x"}\n', r"body.jsonl has no column 'text' \(columns: body\).*--corpus_text_field"),
], ids=["empty", "blank", "truncated-gzip", "not-utf8", "bad-json-row", "no-text-column"])
def test_bad_corpus_file_is_one_line_naming_the_file_and_the_fix(name, content, message, tmp_path):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_paragraphs(str(path))


def test_bad_task_file_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "task.jsonl"
    path.write_bytes(ROWS.encode("latin-1"))
    with pytest.raises(ValueError, match="task.jsonl, line 1, is not UTF-8"):
        TaskSettings(task="tiny", task_data=str(path), text_column="text", label_column="label",
                     train_per_label=1, test_per_label=1).load()


def damage(folder, how: str):
    if how == "no-weights":
        (folder / "model.safetensors").unlink()
    elif how == "corrupt-weights":
        (folder / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes()[:64])
    elif how == "corrupt-config":
        (folder / "config.json").write_text('{"model_type": ')
    return folder


DAMAGE = {
    "no-weights": "has no model.safetensors; the run did not finish",
    "corrupt-weights": r"model.safetensors is corrupt \(.*\); restore it or rerun",
    "corrupt-config": r"config.json is corrupt \(.*\); restore it or rerun",
}


@pytest.mark.parametrize("how", DAMAGE)
def test_damaged_pretrained_folder_is_one_line_naming_the_file(how, tmp_path):
    tokenizer = make_tokenizer(tmp_path / "tokenizer")
    folder = damage(tiny_mlm_folder(tmp_path / "mlm", tokenizer), how)
    with pytest.raises(SettingsError, match=DAMAGE[how]):
        initial_classifier(make_task(["the cat ."], ["a dog ."]), tokenizer, pretrained=str(folder))


@pytest.mark.parametrize("how", DAMAGE)
def test_damaged_run_folder_fails_tlm_publish_in_one_line(how, pretrained_run, tmp_path, capsys):
    damage(pretrained_run, how)
    code = tlm_main(["publish", str(pretrained_run), "--repo-id", "a/b", "--dry-run",
                     "--export-dir", str(tmp_path / "export")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert re.search(DAMAGE[how], err), err


def saved_member_folders(folder, count: int = 2) -> list[str]:
    """Folders m0, m1, ... of randomly initialised classifiers with the same labels: committee members."""
    members = []
    for index in range(count):
        model = ConvBertForSequenceClassification(tiny_config(id2label=LABELS, label2id={v: k for k, v in LABELS.items()}))
        model.save_pretrained(folder / f"m{index}")
        members.append(str(folder / f"m{index}"))
    return members


def test_damaged_committee_member_folder_is_one_line_naming_the_member(tmp_path):
    members = saved_member_folders(tmp_path)
    damage(tmp_path / "m1", "corrupt-weights")
    with pytest.raises(ValueError, match=r"member 1 \(.*m1\) does not load: "):
        SoftCommitteeForSequenceClassification.from_members(members)


def test_committee_checks_every_member_before_training_the_first(tmp_path, capsys, monkeypatch):
    settings = tiny_files(tmp_path)
    tokenizer = make_tokenizer(tmp_path / "tokenizer")
    good = [str(tiny_mlm_folder(tmp_path / f"mlm{i}", tokenizer)) for i in range(2)]
    config = ModelSettings(preset="bert-1-h24", config_overrides=TINY_MODEL).config(tokenizer)
    ConvBertForSequenceClassification(config).save_pretrained(tmp_path / "clf")
    for key in ("corpus", "preset", "config_overrides"):
        del settings[key]
    yaml_file = tmp_path / "committee.yaml"
    yaml_file.write_text(yaml.safe_dump({**settings, "members": [*good, str(tmp_path / "clf")],
                                         "num_train_epochs": 1, "report_to": "none"}))
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["committee.py", "--config", str(yaml_file), "--output_dir", str(out)])
    with pytest.raises(SystemExit, match=r"committee.py: error: member 2 .*clf holds a ConvBertForSequenceClassification"):
        runpy.run_path(str(REPO / "train" / "committee.py"), run_name="__main__")
    assert not (out / "members").exists()  # no member was trained


def test_max_length_beyond_the_models_positions_is_refused_with_the_settings(tmp_path):
    tokenizer = make_tokenizer(tmp_path / "tokenizer")
    with pytest.raises(SettingsError, match=r"max_length 256 is beyond the model's 128 positions .*"
                                            r"max_position_embeddings=256"):
        ModelSettings(preset="bert-1-h24", config_overrides=TINY_MODEL, max_length=256).config(tokenizer)
    folder = tiny_mlm_folder(tmp_path / "mlm", tokenizer)
    with pytest.raises(SettingsError, match="max_length 200 is beyond the model's 128 positions"):
        initial_classifier(make_task(["the cat ."], ["a dog ."]), tokenizer, pretrained=str(folder),
                           model_settings=ModelSettings(max_length=200))


def test_committee_member_folder_without_a_tokenizer_is_accepted(tmp_path):
    members = saved_member_folders(tmp_path)
    save_run(tmp_path / "m0", ConvBertForSequenceClassification.from_pretrained(members[0]))  # m0 has a tokenizer
    committee = SoftCommitteeForSequenceClassification.from_members(members)
    assert len(committee.members) == 2


def test_the_same_model_object_twice_is_refused_in_one_line():
    model = ConvBertForSequenceClassification(tiny_config(id2label=LABELS, label2id={v: k for k, v in LABELS.items()}))
    with pytest.raises(ValueError, match="member 1 is the same model object as member 0.*copy.deepcopy"):
        SoftCommitteeForSequenceClassification.from_members([model, model])
