"""WordPiece training on a pre-training subset."""

import pytest
from transformers import AutoTokenizer

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
