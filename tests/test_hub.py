"""Model cards and `tlm publish`: cards read back intact, exports load without tlm_hf, no surprise network."""

import json
from pathlib import Path

import pytest
from huggingface_hub import ModelCard
from transformers import BertTokenizer

from tlm_hf import ConvBertConfig, ConvBertForMaskedLM, ConvBertForSequenceClassification
from tlm_hf.cli import main as tlm_main
from tlm_hf.hub.model_card import build_model_card, run_kind, write_model_card
from tlm_hf.hub.publish import publish

WORDS = ["the", "team", "won", "a", "game", "market", "fell", "on", "news", "short", "sentence", "to", "check"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", *WORDS]
LABELS = {0: "World", 1: "Sports", 2: "Business", 3: "Sci/Tech"}


def tiny_config(**overrides):
    settings = dict(
        vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        num_conv_layers=1, conv_channels=2, conv_kernel_size=3, pad_token_id=0, cls_token_id=2, sep_token_id=3,
        mask_token_id=4,
    )
    return ConvBertConfig(**{**settings, **overrides})


def save_run(folder, model, **json_files):
    """A run folder as train/pretrain.py and train/finetune.py leave it."""
    model.save_pretrained(folder)
    BertTokenizer(vocab={token: i for i, token in enumerate(VOCAB)}).save_pretrained(folder)
    for name, content in json_files.items():
        (folder / f"{name}.json").write_text(json.dumps(content))
    (folder / "checkpoints" / "checkpoint-1").mkdir(parents=True)
    (folder / "trainer_state.json").write_text("{}")
    return folder


STATS = dict(corpus="../shared/data/wikitext2/paragraphs.jsonl.gz", subset="random", W_s=2000, T_W=9876, seed=42)
RUN_CONFIG = dict(model=dict(preset="bert-1-h24"), training=dict(learning_rate=5e-5, num_train_epochs=50,
                  per_device_train_batch_size=32, weight_decay=0.01, seed=1), data=dict(tokenizer="bert-base-uncased"))


@pytest.fixture
def pretrained_run(tmp_path):
    return save_run(tmp_path / "pretrain", ConvBertForMaskedLM(tiny_config()), pretraining_stats=STATS,
                    run_config=RUN_CONFIG)


@pytest.fixture
def classifier_runs(tmp_path, pretrained_run):
    def results(arm, accuracy):
        return dict(task="ag_news", arm=arm, pretrained_from=str(pretrained_run) if arm == "pretrained" else None,
                    seed=1, accuracy_final=accuracy, accuracy_best=accuracy + 0.01, best_epoch=3,
                    accuracy_per_epoch=[0.5, accuracy + 0.01, accuracy], train_size=4000, test_size=4000, num_labels=4)

    config = dict(id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    pretrained = save_run(tmp_path / "clf", ConvBertForSequenceClassification(tiny_config(**config)),
                          results=results("pretrained", 0.875), run_config=RUN_CONFIG)
    scratch = save_run(tmp_path / "scratch", ConvBertForSequenceClassification(tiny_config(**config)),
                       results=results("scratch", 0.85), run_config=RUN_CONFIG)
    return pretrained, scratch


def test_run_kind_follows_the_saved_architecture(pretrained_run, classifier_runs):
    assert run_kind(pretrained_run) == "pretrained"
    assert run_kind(classifier_runs[0]) == "classifier"


def test_pretrained_card_reads_back_with_its_metadata(pretrained_run):
    path = write_model_card(pretrained_run, repo_id="tlm/bert-1-ws2000")
    card = ModelCard.load(path)
    assert card.data.pipeline_tag == "fill-mask" and card.data.library_name == "transformers"
    assert card.data.license == "apache-2.0" and card.data.datasets == ["Salesforce/wikitext"]
    assert "tiny-language-models" in card.data.tags
    assert "| 2,000 | 9,876 | 42 |" in card.text  # W_s and T_W
    assert 'from_pretrained("tlm/bert-1-ws2000", trust_remote_code=True)' in card.text
    assert "| learning_rate | 5e-05 |" in card.text and "Gross" in card.text


def test_classifier_card_reports_accuracy_scratch_arm_and_gap_as_eval_results(classifier_runs):
    pretrained, scratch = classifier_runs
    card = build_model_card(pretrained, repo_id="tlm/clf", scratch_run=scratch)
    card.save(pretrained / "README.md")
    loaded = ModelCard.load(pretrained / "README.md")
    results = {(r.metric_type, r.metric_name): r.metric_value for r in loaded.data.eval_results}
    assert results[("accuracy", "Accuracy")] == 0.875
    assert results[("accuracy", "Accuracy without pre-training (same architecture)")] == 0.85
    assert results[("accuracy_gap", "Gap (pre-trained - scratch)")] == pytest.approx(0.025)
    assert {r.dataset_type for r in loaded.data.eval_results} == {"fancyzhx/ag_news"}
    assert loaded.data.pipeline_tag == "text-classification"
    assert "| 2,000 | 9,876 |" in loaded.text  # pre-training data found through pretrained_from
    assert "+0.0250" in loaded.text


def test_dry_run_exports_a_folder_that_loads_without_tlm_hf_and_makes_no_network_call(
    classifier_runs, tmp_path, monkeypatch
):
    def no_network(*args, **kwargs):
        raise AssertionError("a dry run must not touch the network")

    monkeypatch.setattr("huggingface_hub.HfApi.create_repo", no_network)
    monkeypatch.setattr("huggingface_hub.HfApi.upload_folder", no_network)
    monkeypatch.setattr("tlm_hf.hub.publish.upload", no_network)
    report = publish(classifier_runs[0], "tlm/clf", export_dir=tmp_path / "export", dry_run=True,
                     scratch_run=classifier_runs[1])
    names = {name for name, _ in report["files"]}
    assert {"config.json", "model.safetensors", "modeling_conv_bert.py", "configuration_conv_bert.py",
            "tokenizer.json", "README.md", "results.json"} <= names
    assert "trainer_state.json" not in names and not (tmp_path / "export" / "checkpoints").exists()
    assert report["verified"]["class"] == "ConvBertForSequenceClassification"
    assert report["verified"]["pipeline"][0]["label"] in LABELS.values()
    assert "url" not in report


def test_publish_dry_run_command_prints_the_files_and_the_verification(pretrained_run, tmp_path, capsys):
    code = tlm_main(["publish", str(pretrained_run), "--repo-id", "tlm/mlm", "--dry-run",
                     "--export-dir", str(tmp_path / "export")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "model.safetensors" in out and "verified without tlm_hf: ConvBertForMaskedLM" in out
    assert "nothing uploaded" in out


def test_publish_without_a_token_fails_in_one_line_after_exporting(pretrained_run, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("tlm_hf.hub.publish.get_token", lambda: None)
    code = tlm_main(["publish", str(pretrained_run), "--repo-id", "tlm/mlm", "--export-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "No Hugging Face token" in err and str(tmp_path / "out") in err and "Traceback" not in err
    assert (tmp_path / "out" / "model.safetensors").exists() and (tmp_path / "out" / "README.md").exists()


def test_publish_offline_fails_early_and_keeps_the_export(pretrained_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = tlm_main(["publish", str(pretrained_run), "--repo-id", "tlm/mlm", "--export-dir", str(tmp_path / "out")])
    assert code == 2 and "HF_HUB_OFFLINE" in capsys.readouterr().err
    assert (tmp_path / "out" / "config.json").exists()


def test_publish_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert tlm_main(["publish", str(tmp_path), "--repo-id", "tlm/x", "--dry-run"]) == 2
    assert "No config.json" in capsys.readouterr().err


@pytest.fixture
def committee_run(tmp_path):
    from tlm_hf import SoftCommitteeForSequenceClassification

    config = dict(id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    members = [ConvBertForSequenceClassification(tiny_config(**config)) for _ in range(2)]
    members.append(ConvBertForSequenceClassification(
        tiny_config(num_conv_layers=0, conv_channels=None, conv_kernel_size=None, num_attention_heads=4, **config)
    ))
    committee = SoftCommitteeForSequenceClassification.from_members(members)
    results = dict(task="ag_news", committee_accuracy=0.868, member_accuracies=[0.85, 0.84, 0.86],
                   reference_accuracy=0.861)
    return save_run(tmp_path / "committee", committee, results=results)


def test_committee_card_lists_members_and_reports_committee_accuracy(committee_run):
    card = ModelCard.load(write_model_card(committee_run, repo_id="tlm/committee"))
    assert [r.metric_value for r in card.data.eval_results] == [0.868]
    assert card.data.pipeline_tag == "text-classification"
    assert "| 3 | `member 2` | BERT-1, 4 heads |" in card.text and "| 0.8600 |" in card.text
    assert "to reproduce \"Tiny Language Models\"" in card.text  # ag_news: one of the paper's experiments
    assert "**0.8680** (reference model: 0.8610)" in card.text
    assert 'pipeline("soft-committee-classification"' in card.text


def test_committee_card_of_own_members_names_them_the_task_and_data_and_claims_no_latency_or_convolutions(tmp_path):
    from tlm_hf import SoftCommitteeForSequenceClassification

    labels = {0: "bug", 1: "feature", 2: "question"}
    config = dict(id2label=labels, label2id={v: k for k, v in labels.items()}, num_conv_layers=0, conv_channels=None,
                  conv_kernel_size=None)
    committee = SoftCommitteeForSequenceClassification.from_members(
        [ConvBertForSequenceClassification(tiny_config(**config)) for _ in range(3)])
    home = "/home/me/runs"
    results = dict(task="tickets", committee_accuracy=0.8, member_accuracies=[0.75, 0.69, None], train_size=600,
                   test_size=300, example_text="The export button crashes when the file name has a 'quote'.",
                   members=[{"member": f"{home}/pt-{i}", "accuracy_final": a}
                            for i, a in enumerate([0.75, 0.69, None])])
    run_config = dict(settings=dict(task="tickets", task_data=f"{home}/tickets.jsonl", recipe="fast",
                                    members=[f"{home}/pt-{i}" for i in range(3)]))
    run = save_run(tmp_path / "committee-own", committee, results=results, run_config=run_config)
    card = ModelCard.load(write_model_card(run, repo_id="me/tickets-committee"))
    text = card.text
    assert "for `tickets` (your data: tickets.jsonl), 3 labels:\nbug, feature, question" in text
    assert "| 1 | `pt-0` | BERT-1, 2 heads |" in text and "| 0.7500 |" in text and "| 0.6900 |" in text
    assert "| 3 | `pt-2` |" in text and "not measured" in text
    assert "on 600 training examples of `tickets` and tested on 300" in text and "recipe `fast`" in text
    assert "With 300 test examples, the accuracy's standard error is about 2.3 points" in text
    assert """committee("The export button crashes when the file name has a 'quote'.")""" in text
    assert "mean of the members' probabilities" in text
    for unmeasured in ("latency", "convolution", "to reproduce", home):
        assert unmeasured not in text.lower(), unmeasured
    [result] = card.data.eval_results
    assert (result.dataset_type, result.dataset_name, result.metric_value) == ("json", "tickets", 0.8)


def test_committee_export_loads_with_its_pipeline_without_tlm_hf(committee_run, tmp_path):
    report = publish(committee_run, "tlm/committee", export_dir=tmp_path / "export", dry_run=True)
    assert report["verified"]["class"] == "SoftCommitteeForSequenceClassification"
    (answer,) = report["verified"]["soft-committee-classification"]
    assert answer["label"] in LABELS.values() and len(answer["members"]) == 3


@pytest.mark.parametrize("where", ["above", "beside"])
def test_publish_dry_run_of_a_relative_run_path_verifies_from_any_working_directory(
    pretrained_run, tmp_path, monkeypatch, capsys, where
):
    (tmp_path / "runs").mkdir()
    pretrained_run.rename(tmp_path / "runs" / "my-run")
    if where == "above":  # the README's form: tlm publish runs/my-run
        monkeypatch.chdir(tmp_path)
        run_path = "runs/my-run"
    else:  # from inside runs/
        monkeypatch.chdir(tmp_path / "runs")
        run_path = "my-run"
    code = tlm_main(["publish", run_path, "--repo-id", "tlm/mlm", "--dry-run"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "verified without tlm_hf: ConvBertForMaskedLM" in captured.out
    assert (tmp_path / "runs" / "my-run" / "hub_export" / "model.safetensors").is_file()


def test_push_run_of_a_relative_output_dir_verifies_then_uploads(pretrained_run, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from tlm_hf.hub.publish import push_run

    uploaded = []
    monkeypatch.setattr("tlm_hf.hub.publish.upload", lambda folder, repo_id, **kw: uploaded.append(folder) or "url")
    monkeypatch.chdir(tmp_path)
    args = SimpleNamespace(hub_model_id=None, hub_private_repo=False, hub_revision=None, hub_token=None)
    assert push_run("pretrain", args) == "url"  # as --push_to_hub --output_dir pretrain does
    assert uploaded == [Path("pretrain") / "hub_export"]


def test_publish_of_corrupt_weights_names_the_run_folders_file(pretrained_run, tmp_path, capsys):
    weights = pretrained_run / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])  # truncated
    code = tlm_main(["publish", str(pretrained_run), "--repo-id", "tlm/x", "--dry-run",
                     "--export-dir", str(tmp_path / "export")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{weights} is corrupt" in err and not (tmp_path / "export").exists()


# --- a run on the user's own files: the card names them as given, never their folders ------------------------------


def test_card_of_a_run_on_own_files_names_the_file_and_the_trained_vocabulary(tmp_path):
    corpus = tmp_path / "home" / "me" / "my_notes.txt"
    stats = dict(STATS, corpus=str(corpus), task="mytopics")
    run_config = dict(settings=dict(corpus=str(corpus), wordpiece_vocab_size=4096, tokenizer=None, recipe="fast"),
                      training=dict(learning_rate=2e-3))
    run = save_run(tmp_path / "pt", ConvBertForMaskedLM(tiny_config()), pretraining_stats=stats, run_config=run_config)
    export = tmp_path / "export"
    publish(run, "me/tiny", export_dir=export, dry_run=True)
    card = ModelCard.load(export / "README.md")
    assert "2,000 paragraphs\nof `my_notes.txt`" in card.text and "Wikipedia" not in card.text
    assert "tokens (WordPiece trained on the 2,000 pre-training paragraphs)" in card.text
    assert card.data.datasets is None  # a local file is no Hub dataset
    for name in ("README.md", "run_config.json", "pretraining_stats.json"):
        assert str(tmp_path) not in (export / name).read_text(), name
    assert json.loads((export / "run_config.json").read_text())["settings"]["corpus"] == "my_notes.txt"


def test_classifier_card_of_own_task_file_lists_its_accuracy_under_the_file_format_not_a_dataset_id(
    tmp_path, pretrained_run
):
    results = dict(task="mytopics", arm="pretrained", pretrained_from=str(pretrained_run), seed=0, accuracy_final=0.9,
                   accuracy_best=0.9, best_epoch=1, train_size=12, test_size=8, num_labels=4)
    run_config = dict(settings=dict(task="mytopics", task_data=str(tmp_path / "mytopics.csv"), pretrained=str(pretrained_run)))
    run = save_run(tmp_path / "clf-own", ConvBertForSequenceClassification(tiny_config(num_labels=4)), results=results,
                   run_config=run_config)
    card = build_model_card(run, repo_id="me/clf")
    assert card.data.datasets is None  # a task file of the user's is no Hub dataset
    [result] = card.data.eval_results  # the model-index the docs promise, under the file's format
    assert (result.dataset_type, result.dataset_name, result.metric_value) == ("csv", "mytopics", 0.9)
    assert "(your data: mytopics.csv)" in card.text and "to reproduce" not in card.text and "best" not in card.text
    assert "With 8 test examples, the accuracy's standard error is about 10.6 points" in card.text
    assert "paragraphs of WikiText-2, then fine-tuned" in card.text  # the pre-trained run's corpus, by its name
    assert "tokens (bert-base-uncased)" in card.text  # the pre-trained folder's tokenizer


def test_wikitext_is_named_only_when_it_is_the_corpus():
    from tlm_hf.hub.model_card import corpus_name

    assert corpus_name("sample:wikitext2") == "WikiText-2"
    assert corpus_name("../data/wikitext2/paragraphs.jsonl.gz") == "WikiText-2"
    assert corpus_name("/home/me/wikitext2.txt") == "`wikitext2.txt`"  # a file of that name: the user's own
    assert corpus_name("wikimedia/wikipedia") == "wikimedia/wikipedia"
