"""Nothing counted twice, nothing trained on the wrong question, and every file read named when it does not read.

A statistic's units (seeds) are distinct; a classification file has two labels, a training example of each and no
empty text before a run claims its folder; a file the package reads (BLiMP pairs, task files, configs, weights,
tokenizer files, reports) that is damaged ends in one line naming it (and its line), while a bug of ours keeps its
traceback.
"""

import csv
import json
import logging
import re
import runpy
import sys
from pathlib import Path

import pytest
import yaml
from data_helpers import make_tokenizer, write_jsonl
from training_helpers import REPO, TINY_MODEL, run_script, tiny_files

from tlm_hf import ConvBertForMaskedLM
from tlm_hf.arguments import parse_settings
from tlm_hf.cli import main as tlm_main
from tlm_hf.errors import SettingsError, UserError
from tlm_hf.evaluation.blimp import COLUMNS, load_blimp
from tlm_hf.settings import (
    EXPERIMENT_SETTINGS,
    CorpusSettings,
    ExperimentSettings,
    ModelSettings,
    TaskSettings,
    TokenizerSettings,
    parse_key_values,
)
from tlm_hf.training.experiments import plan_experiment


def run_main(script: str, *argv):
    """train/<script> (a path under train/) run as from the command line, in this process; SystemExit carries its
    error line."""
    old, sys.argv = sys.argv, [Path(script).name, *map(str, argv)]
    try:
        runpy.run_path(str(REPO / "train" / script), run_name="__main__")
    finally:
        sys.argv = old


# --- a seed counts once ------------------------------------------------------------------------------------------


def test_repeated_seeds_are_refused_in_one_line_wherever_they_are_given(tmp_path):
    with pytest.raises(SettingsError, match=r"^seeds 0 is given 3 times; each entry counts once in the results, so "
                                            r"give distinct values \(e.g. --seeds 0 1 2\)$"):
        parse_settings(EXPERIMENT_SETTINGS, ["--seeds", "0", "0", "0", "--task", "ag_news", "--output_dir", "x"])
    config = tmp_path / "c.yaml"
    config.write_text("seeds: [1, 2, 1]\n")
    with pytest.raises(SettingsError, match=r"c.yaml: seeds 1 is given 2 times"):
        parse_settings(EXPERIMENT_SETTINGS, ["--config", str(config), "--output_dir", "x"])
    with pytest.raises(SettingsError, match="seeds 3 is given 2 times"):  # from Python too
        plan_experiment(ExperimentSettings(output_dir="x", seeds=[3, 3]), CorpusSettings(),
                        TaskSettings(task="ag_news"), ModelSettings(), TokenizerSettings())


def test_a_repeated_row_is_refused_as_it_would_count_twice_in_the_trend():
    from tlm_hf.training.experiments import broadcast_rows

    with pytest.raises(SettingsError, match=r"^row 3 repeats row 1 \(w_s 5000, subset random\); give each row once$"):
        broadcast_rows(ExperimentSettings(w_s=["5000", "20000", "5000"]))
    assert len(broadcast_rows(ExperimentSettings(w_s=["5000", "5000"], subset=["random", "avoid"]))) == 2


def test_experiment_and_reproduce_refuse_a_repeated_seed_before_anything_runs(tmp_path):
    with pytest.raises(SystemExit, match="^experiment.py: error: seeds 0 is given 2 times"):
        run_script("experiment.py", {"task": "tiny", "seeds": [0, 0], "output_dir": str(tmp_path / "exp")})
    with pytest.raises(SystemExit, match="^reproduce.py: error: seeds 0 is given 3 times"):
        run_main("reproduce.py", "--claims", "1", "2", "--seeds", "0", "0", "0", "--output_dir", tmp_path / "paper")
    assert not (tmp_path / "exp").exists() and not (tmp_path / "paper").exists()


# --- a classification file is a question with two answers at least ----------------------------------------------


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([("text", "label"), *rows])
    return str(path)


def finetune_settings(tmp_path, task_data, **extra):
    settings = {key: value for key, value in tiny_files(tmp_path).items() if key not in ("corpus", "task")}
    return {**settings, "scratch": True, "task_data": task_data, "train_per_label": None, "test_per_label": 2,
            "num_train_epochs": 1, "output_dir": str(tmp_path / "run"), "disable_tqdm": True, **extra}


def without_none(settings):
    return {key: value for key, value in settings.items() if value is not None}


def test_a_file_with_one_label_is_refused_before_the_folder_is_claimed(tmp_path):
    data = write_csv(tmp_path / "one_label.csv", [(f"the cat sat {i} .", "animals") for i in range(8)])
    with pytest.raises(SystemExit, match=r"^finetune.py: error: .*one_label.csv has one label \('animals'\) in column "
                                         r"'label'; a classifier needs at least 2"):
        run_script("finetune.py", without_none(finetune_settings(tmp_path, data)))
    assert not (tmp_path / "run").exists()


def test_an_experiment_refuses_a_one_label_file_before_its_first_run(tmp_path):
    data = write_csv(tmp_path / "one_label.csv", [(f"the cat sat {i} .", "animals") for i in range(8)])
    with pytest.raises(SystemExit, match=r"^experiment.py: error: .*one_label.csv has one label \('animals'\)"):
        run_script("experiment.py", {"task_data": data, "test_per_label": 2, "seeds": [0, 1, 2],
                                     "output_dir": str(tmp_path / "exp")})
    assert not (tmp_path / "exp").exists()


def test_one_row_per_label_is_refused_before_the_folder_is_claimed(tmp_path):
    data = write_csv(tmp_path / "tiny_rows.csv", [("the cat sat .", "animals"), ("the bank rose .", "money")])
    with pytest.raises(SystemExit, match=r"^finetune.py: error: label 'animals' has no training example in tiny_rows "
                                         r"\(its 1 example went to test or validation\); add examples"):
        run_script("finetune.py", without_none(finetune_settings(tmp_path, data, test_per_label=1)))
    assert not (tmp_path / "run").exists()


def test_an_empty_split_reaching_the_trainer_is_one_line_not_torchs_sampler_error(tmp_path):
    from data_helpers import make_task

    from tlm_hf.training.finetuning import classification_trainer

    with pytest.raises(SettingsError, match=r"^the task's train split is empty; give it examples"):
        classification_trainer(None, make_tokenizer(tmp_path), make_task([], ["a dog ."]), None)


def test_empty_text_cells_are_left_out_as_the_corpus_reader_skips_empty_lines(tmp_path, caplog):
    rows = [("the cat sat .", "animals"), ("", "animals"), ("a dog ran .", "animals"), ("  ", "money"),
            ("the bank rose .", "money"), ("", "money"), ("a market fell .", "money"), ("a cat ran .", "animals")]
    task = TaskSettings(task_data=write_csv(tmp_path / "gaps.csv", rows), test_per_label=1)
    with caplog.at_level(logging.WARNING, logger="tlm_hf.data.tasks"):
        data = task.load()
    assert ("gaps.csv: 3 of 8 rows have an empty text and are left out (as the corpus reader skips empty lines)"
            in caplog.text)
    texts = [*data["train"]["text"], *data["test"]["text"]]
    assert len(texts) == 5 and all(text.strip() for text in texts)
    task = TaskSettings(task_data=write_csv(tmp_path / "blank.csv", [("", "a"), (" ", "b")]), test_per_label=1)
    with pytest.raises(SettingsError, match=r"blank.csv: every row's text \(text\) is empty"):
        task.load()


def test_a_task_name_close_to_a_known_one_is_refused_with_the_known_name(tmp_path):
    data = write_csv(tmp_path / "news.csv", [(f"story {i}", i % 4) for i in range(16)])
    with pytest.raises(SettingsError, match=r"^--task 'ag_newz' is no known task; did you mean 'ag_news'\? \(any other "
                                            r"name reads --task_data as your own data, with its own labels\)"):
        TaskSettings(task="ag_newz", task_data=data, test_per_label=1).load()
    with pytest.raises(SettingsError, match="did you mean 'dbpedia_14'"):  # an experiment's plan checks it too
        plan_experiment(ExperimentSettings(output_dir="x", seeds=[0]), CorpusSettings(),
                        TaskSettings(task="dbpedia14", task_data=data), ModelSettings(), TokenizerSettings())
    assert TaskSettings(task="my_news", task_data=data, test_per_label=1).load()["train"].num_rows == 12
    named = write_csv(tmp_path / "ag_news2.csv", [(f"story {i}", i % 4) for i in range(16)])
    assert TaskSettings(task="ag_news2", task_data=named, test_per_label=1).resolve_name() == "ag_news2"  # the file's


# --- every file read: named, with its line, in one line -------------------------------------------------------------


def test_convert_reference_of_a_config_that_is_not_json_names_the_file_in_one_line(tmp_path, capsys):
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "config.json").write_text("model_type: bert\n")
    assert tlm_main(["convert-reference", str(tmp_path / "ref"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "ref/config.json is corrupt (not valid JSON: Expecting value at line 1, column 1); point SRC at" in err


def tokenizer_folder(folder, *, mask: bool = True, empty_vocab: bool = False, no_words: bool = False):
    """A saved BERT tokenizer folder: without [MASK] anywhere, with an empty vocab.txt beside its config, or with a
    tokenizer.json whose vocabulary is empty."""
    make_tokenizer(folder).save_pretrained(folder)
    if no_words:
        state = json.loads((folder / "tokenizer.json").read_text())
        (folder / "tokenizer.json").write_text(json.dumps({**state, "model": {**state["model"], "vocab": {}}}))
    if not mask:
        state = json.loads((folder / "tokenizer.json").read_text())
        state["added_tokens"] = [t for t in state["added_tokens"] if t["content"] != "[MASK]"]
        state["model"]["vocab"].pop("[MASK]")
        (folder / "tokenizer.json").write_text(json.dumps(state))
        config = json.loads((folder / "tokenizer_config.json").read_text())
        (folder / "tokenizer_config.json").write_text(json.dumps({**config, "mask_token": None}))
    if empty_vocab:
        (folder / "tokenizer.json").unlink()
        (folder / "vocab.txt").write_text("")
    return str(folder)


def test_a_tokenizer_without_mask_or_with_an_empty_vocabulary_is_one_line_naming_it(tmp_path):
    no_mask = TokenizerSettings(tokenizer_folder(tmp_path / "no-mask", mask=False)).load()  # it tokenizes
    with pytest.raises(SettingsError, match=r"tokenizer '.*no-mask' has no \[MASK\] \(mask_token\); the models here "
                                            r"are BERT-style masked LMs"):
        ModelSettings(preset="bert-1-h24", config_overrides=TINY_MODEL).config(no_mask)
    with pytest.raises(SettingsError, match=r"empty-vocab/vocab.txt is empty; restore the tokenizer's vocabulary"):
        TokenizerSettings(tokenizer_folder(tmp_path / "empty-vocab", empty_vocab=True)).load()
    with pytest.raises(SettingsError, match=r"tokenizer '.*no-words' cannot encode text \(WordPiece error: Missing "
                                            r"\[UNK\] token from the vocabulary\); its vocabulary is empty or damaged"):
        TokenizerSettings(tokenizer_folder(tmp_path / "no-words", no_words=True)).load()
    settings = {**tiny_files(tmp_path), "tokenizer": tokenizer_folder(tmp_path / "no-mask-2", mask=False),
                "w_s": 16, "max_steps": 1, "heldout_size": 0, "output_dir": str(tmp_path / "pt")}
    with pytest.raises(SystemExit, match=r"^pretrain.py: error: tokenizer .*no-mask-2' has no \[MASK\]"):
        run_script("pretrain.py", settings)
    assert not (tmp_path / "pt").exists()


def half_written_mlm(folder):
    tokenizer = make_tokenizer(folder / "tokenizer")
    config = ModelSettings(preset="bert-1-h24", config_overrides=TINY_MODEL).config(tokenizer)
    ConvBertForMaskedLM(config).save_pretrained(folder / "mlm")
    weights = folder / "mlm" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return folder / "mlm"


def test_half_written_weights_name_the_file_through_the_auto_classes_and_the_packages_own(tmp_path):
    from transformers import AutoModel, AutoModelForMaskedLM

    folder = half_written_mlm(tmp_path)
    for loader in (AutoModelForMaskedLM, AutoModel, ConvBertForMaskedLM):
        with pytest.raises(OSError, match=rf"^{folder}/model.safetensors is damaged \(.*\); restore it, or save or "
                                          "download the model again$"):
            loader.from_pretrained(folder)


def test_a_bug_inside_loading_keeps_its_traceback(tmp_path, monkeypatch):
    from transformers import PreTrainedModel

    def broken(*args, **kwargs):
        raise KeyError("a bug of ours")

    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(broken))
    with pytest.raises(KeyError, match="a bug of ours"):
        ConvBertForMaskedLM.from_pretrained(tmp_path)


def blimp_rows(count: int) -> list[dict]:
    return [{"UID": "anaphor_number_agreement", "field": "morphology", "linguistics_term": "anaphor_agreement",
             "sentence_good": f"the cat saw itself {i} .", "sentence_bad": f"the cat saw themselves {i} ."}
            for i in range(count)]


def test_a_blimp_file_with_a_bad_row_anywhere_names_the_file_and_the_line(tmp_path, capsys):
    rows = blimp_rows(5)
    del rows[3]["sentence_good"]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    with pytest.raises(SettingsError, match=r"pairs.jsonl, line 4, is not BLiMP data: it lacks sentence_good; give "
                                            rf"BLiMP's jsonl files \(each row: {', '.join(COLUMNS)}\)"):
        load_blimp(str(path))
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:2], lines[2][:30], *lines[4:]]) + "\n")  # a line cut off mid-string
    assert tlm_main(["blimp", str(tmp_path), "--data", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert re.search(r"pairs.jsonl, line 3, is not valid JSON \(.*\); fix or remove that line$", err.strip()), err


def test_read_json_names_the_file_and_where_it_stops_parsing(tmp_path):
    from tlm_hf.fileio import read_json

    (tmp_path / "results.json").write_text('{"accuracy": 0.9,\n "seed"')
    with pytest.raises(SettingsError, match=r"results.json is corrupt \(not valid JSON: Expecting ':' delimiter at "
                                            r"line 2, column 8\); restore it or rerun what wrote it$"):
        read_json(tmp_path / "results.json")
    with pytest.raises(FileNotFoundError, match="absent.json does not exist"):
        read_json(tmp_path / "absent.json")


def test_blimp_study_refuses_a_fine_tuning_results_file_or_a_repeated_run_before_scoring(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"task": "tiny", "accuracy_final": 0.9, "seed": 0}))
    with pytest.raises(SystemExit, match=r"^blimp_study.py: error: .*results.json is neither an experiment's "
                                         r"results.json .* nor a train/reproduce.py report.json \(it holds keys task, "
                                         r"accuracy_final, seed\); give one of those to --rows$"):
        run_main("studies/blimp_study.py", "--rows", tmp_path / "results.json", "--output_dir", tmp_path / "study")
    with pytest.raises(SystemExit, match=r"^blimp_study.py: error: runs .*run-a is given 2 times"):
        run_main("studies/blimp_study.py", tmp_path / "run-a", tmp_path / "run-a", "--output_dir", tmp_path / "study")
    with pytest.raises(SystemExit, match=r"^blimp_study.py: error: .*run-a/pretraining_stats.json does not exist; give "
                                         r"a pre-training run's folder \(train/pretrain.py --output_dir\)$"):
        run_main("studies/blimp_study.py", tmp_path / "run-a", "--output_dir", tmp_path / "study")
    assert not (tmp_path / "study").exists()


def test_reproduce_refuses_zero_latency_repeats_in_one_line(tmp_path):
    with pytest.raises(SystemExit, match=r"^reproduce.py: error: latency_repeats 0 is out of range; it must be >= 1$"):
        run_main("reproduce.py", "--latency_only", "--latency_repeats", "0", "--output_dir", tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- KEY=VALUE settings: text or a mapping, in every file ---------------------------------------------------------


def test_a_key_value_setting_reads_a_mapping_as_its_text():
    assert parse_key_values({"mlm_probability": 0.3, "report_to": "none", "unpad_tokens": None, "share_ffn": True},
                            setting="pretrain_args", typed=True) == parse_key_values(
        "mlm_probability=0.3,report_to=none,unpad_tokens=null,share_ffn=true", setting="pretrain_args", typed=True)
    with pytest.raises(SettingsError, match=r"config_overrides: conv_kernel_size is \[3, 3\]; a KEY=VALUE setting "
                                            "takes one plain value per key"):
        parse_key_values({"conv_kernel_size": [3, 3]}, setting="config_overrides")


def test_config_override_null_means_the_default_as_documented():
    assert ModelSettings(config_overrides="unpad_tokens=null,hidden_size=32").overrides() == {"hidden_size": 32}
    ModelSettings(preset="bert-1-h24", config_overrides="unpad_tokens=null,fast_dropout=null").check()
    with pytest.raises(SettingsError, match="'unpad_token' is not a field.*did you mean 'unpad_tokens'"):
        ModelSettings(config_overrides="unpad_token=null").overrides()  # a misspelled key is refused, null or not


def dry_run_plan(tmp_path, capsys, experiment: dict, variants: list) -> list[str]:
    """The run folders train/compare.py would start for these files: its dry run's lines, sorted."""
    config, variants_file = tmp_path / "experiment.yaml", tmp_path / "variants.yaml"
    config.write_text(yaml.safe_dump({**tiny_files(tmp_path), "w_s": [24], "seeds": [0], **experiment}))
    variants_file.write_text(yaml.safe_dump({"variants": variants}))
    capsys.readouterr()
    run_main("compare.py", "--config", config, "--variants", variants_file, "--output_dir", tmp_path / "out",
             "--dry_run")
    return sorted(line.split(": ", 1)[1] for line in capsys.readouterr().out.splitlines() if "[would run]" in line)


def test_compare_takes_pretrain_args_and_config_overrides_as_text_or_mapping_in_both_files(tmp_path, capsys,
                                                                                          monkeypatch):
    monkeypatch.chdir(REPO)
    as_text = dry_run_plan(tmp_path, capsys, {"pretrain_args": "mlm_probability=0.2"}, [
        {"name": "text", "pretrain_args": "warmup_steps=0,mlm_probability=0.3",
         "config_overrides": "num_hidden_layers=2,share_blocks=true"}])
    as_mapping = dry_run_plan(tmp_path, capsys, {"pretrain_args": {"mlm_probability": 0.2}}, [
        {"name": "mapping", "pretrain_args": {"warmup_steps": 0, "mlm_probability": 0.3},
         "config_overrides": {"num_hidden_layers": 2, "share_blocks": True}}])
    assert len(as_text) == 3 and as_text == as_mapping  # one pre-training, its fine-tune and its scratch twin


# --- runs that cannot finish say which, in one line -----------------------------------------------------------------


def test_a_killed_worker_ends_the_plan_in_one_line_naming_the_run_and_its_log(tmp_path, monkeypatch):
    """The pool a killed worker leaves behind (as the out-of-memory killer does) fails every future it holds."""
    import concurrent.futures
    from concurrent.futures.process import BrokenProcessPool

    import tlm_hf.training.launch as launch
    from tlm_hf.training.experiments import PlannedRun
    from tlm_hf.training.launch import run_plan

    class KilledWorker(concurrent.futures.ThreadPoolExecutor):
        def __init__(self, max_workers, **kwargs):
            super().__init__(max_workers)

        def submit(self, *args):
            future = concurrent.futures.Future()
            future.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))
            return future

    monkeypatch.setattr(launch.concurrent.futures, "ProcessPoolExecutor", KilledWorker)
    run = PlannedRun("pretraining", {}, tmp_path / "runs" / "pt", "pre-training random W_s=24",
                     "pretraining_stats.json")
    with pytest.raises(UserError, match=rf"^pre-training random W_s=24 failed: a worker process was killed while it "
                                        rf"ran \(out of memory, or a signal\); rerun to resume \(its log: "
                                        rf"{tmp_path}/runs/pt/log.txt\)$"):
        run_plan([run], jobs=1)


def test_tlm_stats_seed_names_each_seed_it_could_mean(capsys):
    assert tlm_main(["stats", "--seed", "3"]) == 2
    err = capsys.readouterr().err
    assert "unknown option '--seed'; did you mean --subset_seed, seed of the random W_s paragraphs" in err
    assert ", or --task_seed, which examples form train, test and validation" in err
