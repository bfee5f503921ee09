"""BLiMP scoring: pseudo-log-likelihood against a hand-written loop, batch independence, pair decisions, the bundled
sample with its published scores, and `tlm blimp` end to end."""

import json
import re

import pytest
import torch
from data_helpers import make_tokenizer, write_jsonl

from tlm_hf import ConvBertConfig, ConvBertForMaskedLM, ConvBertForSequenceClassification
from tlm_hf.cli import main
from tlm_hf.data.tokenizer import load_tokenizer
from tlm_hf.errors import SettingsError
from tlm_hf.evaluation.blimp import (
    FIELDS,
    blimp_metrics,
    compare_with_floor,
    evaluate_blimp,
    load_blimp,
    published_scores,
    score_pairs,
    summarise,
    verdict_line,
)
from tlm_hf.evaluation.pll import pseudo_log_likelihoods

SENTENCES = [
    "Who should Derek hug after shocking Richard?",
    "The unbelievably disorganized herbivores hadn't scrutinized themselves.",
    "Dogs bark.",
    "Many teachers were irritating Carla, wasn't she?",
    "A",
    "These philosophers' neighbours reappear thoughtlessly in paintings of themselves and everybody else.",
]


def tiny_mlm(tokenizer, seed: int = 0, **overrides) -> ConvBertForMaskedLM:
    """A random tiny ConvBert (with a convolutional front end, whose padding handling the batch test covers)."""
    torch.manual_seed(seed)
    settings = dict(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=64, num_conv_layers=1, conv_channels=4, conv_kernel_size=[3, 3],
        pad_token_id=tokenizer.pad_token_id, cls_token_id=tokenizer.cls_token_id, sep_token_id=tokenizer.sep_token_id,
        mask_token_id=tokenizer.mask_token_id,
    )
    return ConvBertForMaskedLM(ConvBertConfig(**{**settings, **overrides})).eval()


@pytest.fixture(scope="module")
def wordpiece():
    """bert-base-uncased's vocabulary: many of SENTENCES' words split into several pieces."""
    return load_tokenizer("sample:bert-base-uncased")


def hand_written_pll(model, tokenizer, sentence: str, word_l2r: bool) -> float:
    """One forward per masked position, full logits (no labels): the definition, written out."""
    encoded = tokenizer(sentence)
    ids, words = encoded["input_ids"], encoded.word_ids()
    total = 0.0
    for position, word in enumerate(words):
        if word is None:
            continue
        masked = list(ids)
        masked[position] = tokenizer.mask_token_id
        later = position + 1
        while word_l2r and later < len(ids) and words[later] == word:
            masked[later] = tokenizer.mask_token_id
            later += 1
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([masked])).logits[0, position]
        total += logits.log_softmax(-1)[ids[position]].item()
    return total


@pytest.mark.parametrize("variant", ["original", "word-l2r"])
def test_pll_equals_a_hand_written_loop_over_masked_positions(wordpiece, variant):
    model = tiny_mlm(wordpiece)
    sentences = SENTENCES[:3]  # one-piece and multi-piece words, three lengths
    scores = pseudo_log_likelihoods(model, wordpiece, sentences, variant=variant)
    expected = [hand_written_pll(model, wordpiece, s, word_l2r=variant == "word-l2r") for s in sentences]
    assert scores == pytest.approx(expected, rel=1e-5, abs=1e-4)


def test_word_l2r_masks_the_rest_of_the_word_so_it_differs_on_multi_piece_words(wordpiece):
    model = tiny_mlm(wordpiece)
    assert len(wordpiece.tokenize("herbivores")) > 1 and len(wordpiece.tokenize("dogs bark.")) == 3
    original, word_l2r = (pseudo_log_likelihoods(model, wordpiece, SENTENCES[1:3], variant=v)
                          for v in ("original", "word-l2r"))
    assert original[0] != pytest.approx(word_l2r[0])  # "herbivores", "disorganized", ... are several pieces
    assert original[1] == pytest.approx(word_l2r[1], abs=1e-5)  # every word of "Dogs bark." is one piece


def test_pll_is_the_same_for_batch_sizes_1_and_64_and_any_padding(wordpiece):
    model = tiny_mlm(wordpiece)
    one = pseudo_log_likelihoods(model, wordpiece, SENTENCES, batch_size=1)
    many = pseudo_log_likelihoods(model, wordpiece, SENTENCES, batch_size=64)  # all in one padded forward
    three = pseudo_log_likelihoods(model, wordpiece, SENTENCES * 2, batch_size=3)  # other neighbours, other padding
    assert many == pytest.approx(one, rel=1e-6, abs=1e-4)
    assert three == pytest.approx(one * 2, rel=1e-6, abs=1e-4)
    assert pseudo_log_likelihoods(model, wordpiece, [""]) == [0.0]  # no tokens, nothing to score


def test_pll_leaves_a_training_model_in_training_mode(wordpiece):
    model = tiny_mlm(wordpiece).train()
    pseudo_log_likelihoods(model, wordpiece, SENTENCES[:2])
    assert model.training


def preferring(tokenizer, liked: str, disliked: str) -> ConvBertForMaskedLM:
    """A model built to prefer `liked` over `disliked` at every masked position: output bias only."""
    model = tiny_mlm(tokenizer)
    with torch.no_grad():
        model.cls.predictions.transform.dense.weight.zero_()
        model.cls.predictions.transform.dense.bias.zero_()
        model.cls.predictions.bias.zero_()
        model.cls.predictions.bias[tokenizer.convert_tokens_to_ids(liked)] = 5.0
        model.cls.predictions.bias[tokenizer.convert_tokens_to_ids(disliked)] = -5.0
    return model


def pair(uid: str, good: str, bad: str, field: str = "syntax", term: str = "agreement") -> dict:
    return {"UID": uid, "pairID": "0", "field": field, "linguistics_term": term, "sentence_good": good,
            "sentence_bad": bad}


def test_a_model_built_to_prefer_a_sentence_gets_its_pair_right_and_the_swapped_pair_wrong(tmp_path):
    tokenizer = make_tokenizer(tmp_path / "tok")
    model = preferring(tokenizer, "sat", "ran")
    pairs = [pair("a", "the cat sat .", "the cat ran ."), pair("b", "the dog ran .", "the dog sat .")]
    assert score_pairs(model, tokenizer, pairs) == [True, False]
    result = evaluate_blimp(model, tokenizer, pairs)
    assert result["paradigms"] == {"a": 1.0, "b": 0.0} and result["overall"] == 0.5


def test_overall_is_the_mean_over_paradigms_not_over_pairs():
    pairs = [pair("a", "", "", "morphology", "x")] + [pair("b", "", "", "syntax", "y")] * 3
    result = summarise(pairs, [True, False, False, False])
    assert result["overall"] == 0.5  # paradigm a 1.0, b 0.0 (the mean over pairs would be 0.25)
    assert result["fields"] == {"morphology": 1.0, "syntax": 0.0} and result["phenomena"] == {"x": 1.0, "y": 0.0}


def test_bundled_sample_has_100_pairs_of_each_of_the_67_paradigms_and_the_published_scores():
    pairs = load_blimp("sample:blimp")
    per_paradigm = {}
    for row in pairs:
        per_paradigm[row["UID"]] = per_paradigm.get(row["UID"], 0) + 1
    assert len(per_paradigm) == 67 and set(per_paradigm.values()) == {100}
    assert {row["field"] for row in pairs} == set(FIELDS)
    assert len(load_blimp("sample:blimp", pairs_per_paradigm=3)) == 67 * 3
    published = published_scores(pairs)
    assert published["ngram"]["overall"] == pytest.approx(0.612, abs=1e-3)  # the BLiMP paper's 61.2
    assert len(published["gpt2"]["paradigms"]) == 67 and set(published["lstm"]["fields"]) == set(FIELDS)
    assert "s-selection" in published["txl"]["phenomena"]


def test_blimp_data_without_its_columns_is_refused_in_one_line(tmp_path):
    path = write_jsonl(tmp_path / "pairs.jsonl", [{"good": "a", "bad": "b"}])
    with pytest.raises(SettingsError, match="line 1, is not BLiMP data: it lacks UID"):
        load_blimp(str(path))
    with pytest.raises(FileNotFoundError, match="no BLiMP data"):
        load_blimp(str(tmp_path / "missing.jsonl"))


def test_blimp_metrics_add_the_overall_and_field_scores_to_held_out_metrics(tmp_path):
    tokenizer = make_tokenizer(tmp_path / "tok")
    pairs = [pair("a", "the cat sat .", "the cat ran .", "morphology")]
    metrics = blimp_metrics(lambda eval_pred: {"mlm_loss": 2.0}, preferring(tokenizer, "sat", "ran"), tokenizer,
                            pairs)(None)
    assert metrics == {"mlm_loss": 2.0, "blimp_overall": 1.0, "blimp_morphology": 1.0}


def test_overall_standard_error_is_the_binomial_one_for_a_single_paradigm_and_shrinks_over_paradigms():
    one = [pair("a", "x", "y")] * 4
    result = summarise(one, [True, False, True, False])
    assert result["standard_error"] == pytest.approx((0.5 * 0.5 * 4 / 3 / 4) ** 0.5)
    two = one + [pair("b", "x", "y")] * 4
    assert summarise(two, [True, False] * 4)["standard_error"] == pytest.approx(result["standard_error"] / 2 ** 0.5)


def test_a_floor_is_distinguishable_only_beyond_two_standard_errors_of_the_paired_difference():
    pairs = [pair(uid, "x", "y") for uid in "ab" for _ in range(50)]
    same = compare_with_floor(pairs, [True, False] * 50, [True, False] * 50)
    assert same == {"difference": 0.0, "difference_se": 0.0, "distinguishable": False}
    better = compare_with_floor(pairs, [True] * 100, [True, False] * 50)
    assert better["difference"] == pytest.approx(0.5) and better["distinguishable"]
    close = compare_with_floor(pairs, [True] * 2 + [True, False] * 49, [True, False] * 50)
    assert not close["distinguishable"]
    line = verdict_line({"its random twin": close, "the unigram floor": better, "another": None})
    assert line.startswith("verdict: not distinguishable from its random twin (+1.0 ± 1.0 points)")
    assert "distinguishable from the unigram floor (above it: +50.0 ± " in line and "another: not measured" in line
    assert "rule: a difference counts when it exceeds 2 standard errors" in line


# --- tlm blimp ----------------------------------------------------------------------------------------------------


@pytest.fixture
def saved_mlm(tmp_path, wordpiece):
    folder = tmp_path / "pretrained"
    tiny_mlm(wordpiece).save_pretrained(folder)
    wordpiece.save_pretrained(folder)
    return folder


@pytest.fixture
def two_paradigms(tmp_path):
    rows = [row for row in load_blimp("sample:blimp", pairs_per_paradigm=4) if row["UID"] in ("adjunct_island", "causative")]
    return str(write_jsonl(tmp_path / "blimp.jsonl", rows))


def test_tlm_blimp_prints_json_with_the_score_the_variant_and_the_published_models(saved_mlm, two_paradigms, capsys):
    assert main(["blimp", str(saved_mlm), "--data", two_paradigms, "--format", "json", "--pll", "original"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["variant"] == "original" and result["pairs"] == 8
    assert set(result["paradigms"]) == {"adjunct_island", "causative"}
    assert result["overall"] == pytest.approx(sum(result["paradigms"].values()) / 2)
    assert result["published"]["gpt2"]["paradigms"]["causative"] == 0.782


def test_tlm_blimp_prints_a_markdown_table_beside_the_anchors_and_writes_it(saved_mlm, two_paradigms, tmp_path, capsys):
    out = tmp_path / "blimp.md"
    assert main(["blimp", str(saved_mlm), "--data", two_paradigms, "--format", "markdown", "--paradigms",
                 "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert " | this model | 5-gram | LSTM | TXL | GPT-2 |" in printed and "| paradigm: causative |" in printed
    assert "humans 88.6" in printed and "word-l2r" in printed
    assert out.read_text() == printed


@pytest.mark.parametrize("format", ["text", "markdown", "json"])
def test_tlm_blimp_of_a_random_model_gives_its_standard_error_and_says_it_is_not_distinguishable_from_its_twin(
    saved_mlm, two_paradigms, capsys, format
):
    assert main(["blimp", str(saved_mlm), "--data", two_paradigms, "--seed", "1", "--format", format]) == 0
    printed = capsys.readouterr().out
    result = json.loads(printed) if format == "json" else None
    verdict = result["verdict"] if result else next(line for line in printed.splitlines() if "verdict: " in line)
    assert "not distinguishable from its random twin" in verdict
    assert "the unigram floor: not measured" in verdict  # no run_config.json: its pre-training text is unknown
    if result:
        assert result["standard_error"] > 0
        assert not result["floors"]["random twin"]["comparison"]["distinguishable"]
    else:
        assert re.search(r"overall +\| +\d+\.\d ± \d+\.\d" if format == "markdown" else r"overall +\d+\.\d ± \d+\.\d",
                         printed)
        assert "random twin: " in printed


def test_tlm_blimp_measures_the_unigram_floor_on_the_folders_own_pre_training_text(saved_mlm, two_paradigms, tmp_path,
                                                                                    capsys):
    text = tmp_path / "my_text.txt"
    text.write_text("\n".join(load_blimp(two_paradigms)[i]["sentence_good"] for i in range(8)) + "\n")
    (saved_mlm / "run_config.json").write_text(json.dumps(
        {"stage": "pretraining", "settings": {"corpus": str(text), "heldout_size": 0, "subset": "random"}}))
    assert main(["blimp", str(saved_mlm), "--data", two_paradigms, "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    unigram = result["floors"]["unigram floor"]
    assert unigram["how"] == "token frequencies of its 8 pre-training paragraphs"
    assert 0 <= unigram["overall"] <= 1 and unigram["comparison"]["difference_se"] >= 0
    assert "the unigram floor: not measured" not in result["verdict"]


def test_tlm_blimp_random_init_scores_the_same_architecture_with_fresh_weights(saved_mlm, two_paradigms, capsys):
    assert main(["blimp", str(saved_mlm), "--data", two_paradigms, "--random_init"]) == 0
    assert "random init (seed 0)" in capsys.readouterr().out


def test_tlm_blimp_refuses_a_classifier_and_a_byte_level_model_in_one_line(tmp_path, wordpiece, two_paradigms, capsys):
    classifier = tmp_path / "classifier"
    ConvBertForSequenceClassification(tiny_mlm(wordpiece).config).save_pretrained(classifier)
    assert main(["blimp", str(classifier), "--data", two_paradigms]) == 2
    assert "not a masked language model" in capsys.readouterr().err
    byte_level = tmp_path / "bytes"
    tiny_mlm(wordpiece, input_mode="bytes", max_token_bytes=8, byte_embedding_size=16, byte_encoder_layers=1,
             byte_attention_heads=2, num_conv_layers=0, conv_channels=None, conv_kernel_size=None).save_pretrained(byte_level)
    wordpiece.save_pretrained(byte_level)
    assert main(["blimp", str(byte_level), "--data", two_paradigms]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("tlm blimp: error: this is a byte-level model")
    assert "Traceback" not in err


# --- in the pipeline: the experiment table and the pre-trained model's card ------------------------------------


def test_experiment_table_gets_a_blimp_column_only_when_pre_training_measured_it():
    from tlm_hf.training.experiments import experiment_table, table_row

    runs = [{"seed": 0, "accuracy_final": 0.8, "accuracy_best": 0.8}]
    stats = {"W_s": 5000, "T_W": 3959, "T_M": 30, "context_gain": 0.42, "blimp_overall": 0.6123}
    measured = table_row("random", stats, runs, runs)
    assert measured["blimp_overall"] == 0.6123
    assert "| context gain | BLiMP | Acc. pre-trained |" in experiment_table([measured])
    assert "| +0.42 | 0.612 | 0.800" in experiment_table([measured])
    unmeasured = table_row("random", {**stats, "blimp_overall": None}, runs, runs)
    assert "BLiMP" not in experiment_table([unmeasured])
    assert "| +0.42 | - |" in experiment_table([unmeasured, measured])


def test_pretrained_card_shows_the_blimp_score_and_its_standard_error_when_pre_training_measured_it(
    tmp_path, wordpiece
):
    from tlm_hf.hub.model_card import build_model_card

    stats = {"corpus": "sample:wikitext2", "W_s": 5000, "T_W": 3959, "seed": 42}
    folder = tmp_path / "pretrained"
    tiny_mlm(wordpiece).save_pretrained(folder)
    wordpiece.save_pretrained(folder)
    (folder / "pretraining_stats.json").write_text(json.dumps(stats))
    assert "BLiMP" not in build_model_card(folder).text
    (folder / "pretraining_stats.json").write_text(json.dumps(
        {**stats, "blimp_overall": 0.6123, "blimp_pairs": 1340, "blimp_variant": "word-l2r"}))
    card = build_model_card(folder).text
    assert "## Grammar: BLiMP" in card and "On 1,340 minimal pairs" in card and "**61.2%**" in card
    assert "(standard error about 1.3 points)" in card  # sqrt(0.61 * 0.39 / 1,340)
    assert "word-l2r" in card


def test_unigram_floor_prefers_the_sentence_of_frequent_tokens(tmp_path):
    from tlm_hf.evaluation.blimp import unigram_pairs

    tokenizer = make_tokenizer(tmp_path / "tok")
    counts = [0] * len(tokenizer)
    counts[tokenizer.convert_tokens_to_ids("sat")] = 100
    counts[tokenizer.convert_tokens_to_ids("ran")] = 1
    import numpy as np

    pairs = [pair("a", "the cat sat .", "the cat ran ."), pair("a", "the dog ran .", "the dog sat ."),
             pair("a", "the cat sat .", "the cat sat sat .")]
    assert unigram_pairs(tokenizer, np.array(counts), pairs) == [True, False, True]


def test_pretraining_reports_blimp_at_every_heldout_evaluation_and_in_its_stats(tmp_path):
    from training_helpers import run_script, tiny_files

    out = tmp_path / "pretrain"
    settings = {**tiny_files(tmp_path), "w_s": 48, "per_device_train_batch_size": 8, "num_train_epochs": 2,
                "blimp_pairs_per_paradigm": 1, "output_dir": str(out), "disable_tqdm": True}
    run_script("pretrain.py", settings)
    stats = json.loads((out / "pretraining_stats.json").read_text())
    assert stats["blimp_pairs"] == 67 and stats["blimp_variant"] == "word-l2r" and 0 <= stats["blimp_overall"] <= 1
    per_epoch = [entry["blimp_overall"] for entry in stats["heldout_per_epoch"]]
    assert len(per_epoch) == 2 and per_epoch[-1] == stats["blimp_overall"]


def test_the_study_scores_runs_and_rows_summarises_seeds_and_correlates_blimp_with_the_gap(tmp_path):
    """train/studies/blimp_study.py: two seeds of one pre-training form a series (final score and the curve logged while
    pre-training), the floors come once per series, and a report's rows are scored beside their gap."""
    import subprocess
    import sys

    from training_helpers import REPO, run_script, tiny_files

    files = tiny_files(tmp_path)
    runs = [tmp_path / "exp" / "pretrain" / f"random-ws40-s{seed}" for seed in (0, 1)]  # an experiment's layout
    for seed, out in enumerate(runs):
        run_script("pretrain.py", {**files, "w_s": 40, "per_device_train_batch_size": 8, "num_train_epochs": 2,
                                   "blimp_pairs_per_paradigm": 1, "seed": seed, "output_dir": str(out),
                                   "disable_tqdm": True})
    rows = [{"subset": "random", "W_s": 40, "pretraining_dir": str(run), "context_gain": 0.1 * seed,
             "gap": {"value": [0.05, 0.03][seed]}} for seed, run in enumerate(runs)]
    (tmp_path / "report.json").write_text(json.dumps({"claims": [{"rows": rows}, {"rows": rows[:1]}]}))

    def study(*flags):
        return subprocess.run([sys.executable, str(REPO / "train" / "studies" / "blimp_study.py"), *flags, "--pairs_per_paradigm",
                               "1", "--random_seeds", "0", "--output_dir", str(tmp_path / "study")],
                              capture_output=True, text=True)

    done = study(*map(str, runs), "--rows", str(tmp_path / "report.json"))
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "study" / "study.json").read_text())
    assert [s["seed"] for s in result["scores"]] == [0, 1] and len(result["series"]) == 1
    series = result["series"][0]
    assert series["runs"] == ["random-ws40-s0", "random-ws40-s1"]
    assert [c["n"] for c in series["curve"]] == [2, 2]  # two evaluations logged by each seed
    assert series["final_mean"] == pytest.approx(sum(s["overall"] for s in result["scores"]) / 2)
    assert [f["model"] for f in result["floors"]] == ["random weights (seed 0)", "unigram (WikiText-2 train frequencies)"]
    assert [r["gap"] for r in result["rows"]] == [0.05, 0.03]  # each pre-training once, though two claims share one
    assert [r["overall"] for r in result["rows"]] == [s["overall"] for s in result["scores"]]
    correlation = result["correlations"][str(tmp_path / "report.json")]
    assert correlation["rows"] == 2 and correlation["blimp_vs_gap"] is None  # r needs 3 rows
    text = (tmp_path / "study" / "study.md").read_text()
    assert "Series random-ws40-s0, random-ws40-s1: final BLiMP" in text and "| random (random-ws40-s1) | 40 |" in text

    # an experiment's results.json names no folder: a row must match exactly one under OUTPUT/pretrain
    (tmp_path / "exp" / "results.json").write_text(json.dumps([{**rows[0], "gap": 0.05}]))
    refused = study("--rows", str(tmp_path / "exp" / "results.json"))
    assert refused.returncode != 0 and "2 pre-training folders for row random W_s=40" in refused.stderr
