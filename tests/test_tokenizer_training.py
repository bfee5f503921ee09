"""WordPiece training on a pre-training subset."""

import pytest
from transformers import AutoTokenizer

from tlm_hf.data.corpus import load_paragraphs, random_subset
from tlm_hf.data.tokenizer import train_wordpiece

TEXTS = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog met"] * 20


def test_trained_wordpiece_has_bert_special_tokens_and_reloads(tmp_path):
    tokenizer = train_wordpiece(TEXTS, 60, output_dir=str(tmp_path / "wp"))
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert len(tokenizer) <= 60
    reloaded = AutoTokenizer.from_pretrained(tmp_path / "wp")
    assert reloaded("The CAT sat")["input_ids"] == tokenizer("the cat sat")["input_ids"]
    assert reloaded.convert_ids_to_tokens(reloaded("the cat")["input_ids"]) == ["[CLS]", "the", "cat", "[SEP]"]


def test_vocabulary_without_room_for_tokens_is_an_error():
    with pytest.raises(ValueError, match="vocab_size 5 leaves no room"):
        train_wordpiece(TEXTS, 5)


def test_the_same_texts_give_the_same_vocabulary_and_ids_on_every_training():
    # without fixed ids for the ##-tokens, 15 trainings on these texts gave 2 different vocabularies, and ids
    # differed on every run (huggingface/tokenizers#1794)
    paragraphs = random_subset(load_paragraphs("sample:wikitext2"), 300)
    first = train_wordpiece(paragraphs, 600).get_vocab()
    for _ in range(4):
        assert train_wordpiece(paragraphs, 600).get_vocab() == first


def test_continuation_tokens_are_ordinary_tokens_of_the_trained_vocabulary(tmp_path):
    tokenizer = train_wordpiece(TEXTS, 60, output_dir=str(tmp_path / "wp"))
    assert set(tokenizer.all_special_tokens) == {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
    assert "##t" in tokenizer.get_vocab() and tokenizer.tokenize("cat") == ["cat"]
    for loaded in (tokenizer, AutoTokenizer.from_pretrained(tmp_path / "wp")):  # "##t" in a text is only text
        assert "##t" not in loaded.tokenize("cat ##t")
