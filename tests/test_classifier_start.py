"""Check once, build once: `classifier_start` checks what a classifier starts from, `make_classifier` builds it
without reading or checking the folder again."""

import pytest
import torch
from data_helpers import make_task, make_tokenizer

from tlm_hf import ConvBertForMaskedLM
from tlm_hf.settings import ModelSettings, SettingsError, check_together
from tlm_hf.training import finetuning, runs
from tlm_hf.training.finetuning import classifier_start, make_classifier

TINY = "hidden_size=32,num_attention_heads=2,intermediate_size=64,max_position_embeddings=64"


@pytest.fixture
def tokenizer(tmp_path):
    return make_tokenizer(tmp_path / "tokenizer")


@pytest.fixture
def mlm_folder(tmp_path, tokenizer):
    torch.manual_seed(0)
    model = ConvBertForMaskedLM(ModelSettings(preset="bert-1-h24", config_overrides=TINY, max_length=64).config(tokenizer))
    model.save_pretrained(tmp_path / "mlm")
    return tmp_path / "mlm", model


@pytest.fixture
def folder_reads(monkeypatch):
    """Every read of a saved folder's config.json through the checks, by folder."""
    reads = []
    original = runs.model_folder_config

    def counting(folder, **kwargs):
        reads.append(str(folder))
        return original(folder, **kwargs)

    monkeypatch.setattr(runs, "model_folder_config", counting)
    monkeypatch.setattr(finetuning, "model_folder_config", counting)
    return reads


def test_a_pretrained_start_reads_its_folder_once_and_the_build_loads_its_encoder(mlm_folder, tokenizer,
                                                                                  folder_reads):
    folder, mlm = mlm_folder
    start = classifier_start(tokenizer, pretrained=str(folder))
    assert start.weights == str(folder) and tokenizer.model_max_length == 64
    model = make_classifier(start, make_task(["the cat ."], ["a dog ."]))
    assert folder_reads == [str(folder)]
    assert model.config.id2label == {0: "animals", 1: "money"}
    torch.testing.assert_close(model.bert.embeddings.word_embeddings.weight, mlm.bert.embeddings.word_embeddings.weight)


def test_a_scratch_start_from_a_folder_takes_its_architecture_and_no_weights(mlm_folder, tokenizer, folder_reads):
    folder, mlm = mlm_folder
    start = classifier_start(tokenizer, pretrained=str(folder), scratch=True)
    assert start.weights is None and start.config.hidden_size == 32
    model = make_classifier(start, make_task(["the cat ."], ["a dog ."]))
    assert folder_reads == [str(folder)]
    assert not torch.equal(model.bert.embeddings.word_embeddings.weight, mlm.bert.embeddings.word_embeddings.weight)


def test_nothing_to_fine_tune_is_said_by_the_start(tokenizer):
    with pytest.raises(SettingsError, match="nothing to fine-tune; give --pretrained FOLDER, or --scratch"):
        classifier_start(tokenizer)


def test_a_tokenizer_that_does_not_fit_is_refused_before_anything_is_built(mlm_folder, tmp_path):
    other = make_tokenizer(tmp_path / "other")
    other.add_tokens(["zebra"])
    with pytest.raises(SettingsError, match="tokens but the model's vocabulary has"):
        classifier_start(other, pretrained=str(mlm_folder[0]))


@pytest.mark.parametrize("start", ["pre-trained", "scratch from its folder", "scratch from the preset"])
def test_the_attention_implementation_set_reaches_every_classifier_and_no_saved_config(start, mlm_folder, tokenizer,
                                                                                      tmp_path):
    folder, _ = mlm_folder
    where = {"pre-trained": dict(pretrained=str(folder)), "scratch from its folder": dict(pretrained=str(folder),
             scratch=True), "scratch from the preset": dict(scratch=True)}[start]
    model_fields = dict(max_length=64) if "pretrained" in where else dict(config_overrides=TINY, max_length=64)

    def classifier(**attention):
        settings = ModelSettings(preset="bert-1-h24", **model_fields, **attention)
        return make_classifier(classifier_start(tokenizer, model_settings=settings, **where), make_task(["a ."], ["b ."]))

    assert classifier().config._attn_implementation == "sdpa"
    model = classifier(attn_implementation="eager")
    assert model.config._attn_implementation == "eager"
    model.save_pretrained(tmp_path / "saved")  # an execution choice of the run, not part of the model
    assert "attn" not in (tmp_path / "saved" / "config.json").read_text()


def test_the_attention_implementation_set_reaches_the_mlm_and_an_unknown_one_is_refused(tokenizer):
    config = ModelSettings(preset="bert-1-h24", config_overrides=TINY, max_length=64,
                           attn_implementation="eager").config(tokenizer)
    assert ConvBertForMaskedLM(config).config._attn_implementation == "eager"
    with pytest.raises(SettingsError, match="^plan: attn_implementation 'flash' is not one this model offers; use sdpa "
                                            "or eager$"):
        check_together({"attn_implementation": "flash"}, "plan")
