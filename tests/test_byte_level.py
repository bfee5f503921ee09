"""Byte-level pooled input (STLM §5.2): bytes in, no vocabulary-sized weight, whole-token byte MLM, remote code."""

import json

import pytest
import torch
from datasets import Dataset
from remote_code import run_without_tlm_hf
from transformers import AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments

from tlm_hf import (
    ConvBertByteTokenizer,
    ConvBertConfig,
    ConvBertForMaskedLM,
    ConvBertForSequenceClassification,
    ConvBertModel,
    SoftCommitteeForSequenceClassification,
)
from tlm_hf.data.bytes import ByteMaskingCollator, byte_labels, load_byte_tokenizer
from tlm_hf.data.corpus import load_paragraphs
from tlm_hf.hub.publish import publish
from tlm_hf.models.configuration_conv_bert import BYTE_MASK, BYTE_OFFSET, BYTE_PAD, BYTE_VOCAB_SIZE
from tlm_hf.training.mlm import tokenize_paragraphs

VOCAB = 1000  # no other dimension of the tiny model is 1000
PAD, CLS, SEP, MASK = 0, 1, 2, 3


def tiny_byte_config(**overrides) -> ConvBertConfig:
    settings = dict(
        input_mode="bytes", vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=32, pad_token_id=PAD, cls_token_id=CLS, sep_token_id=SEP,
        mask_token_id=MASK, max_token_bytes=8, byte_embedding_size=16, byte_encoder_layers=2, byte_attention_heads=2,
    )
    return ConvBertConfig(**{**settings, **overrides})


def tokenizer_config(tokenizer, **overrides) -> ConvBertConfig:
    ids = dict(vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_token_id,
               cls_token_id=tokenizer.cls_token_id, sep_token_id=tokenizer.sep_token_id,
               mask_token_id=tokenizer.mask_token_id)
    return tiny_byte_config(**{**ids, "max_token_bytes": 16, **overrides})


def byte_batch(lengths, seed=0, max_token_bytes=8):
    """[CLS] tokens [SEP] rows of random ids and bytes (1 to max_token_bytes per token), padded to the longest."""
    generator = torch.Generator().manual_seed(seed)
    width = max(lengths)
    input_ids = torch.full((len(lengths), width), PAD)
    input_bytes = torch.full((len(lengths), width, max_token_bytes), BYTE_PAD)
    attention_mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, length in enumerate(lengths):
        input_ids[row, :length] = torch.randint(10, VOCAB, (length,), generator=generator)
        input_ids[row, 0], input_ids[row, length - 1] = CLS, SEP
        attention_mask[row, :length] = 1
        for position in range(1, length - 1):
            count = int(torch.randint(1, max_token_bytes + 1, (), generator=generator))
            token_bytes = torch.randint(BYTE_OFFSET, BYTE_VOCAB_SIZE, (count,), generator=generator)
            input_bytes[row, position, :count] = token_bytes
    return dict(input_ids=input_ids, input_bytes=input_bytes, attention_mask=attention_mask)


@pytest.fixture(scope="module")
def tokenizer():
    return load_byte_tokenizer("sample:bert-base-uncased", max_token_bytes=16)


@pytest.mark.parametrize("conv_layers", [0, 2])
def test_a_sequence_gives_the_same_logits_alone_or_padded_in_a_batch(conv_layers):
    conv = dict(num_conv_layers=2, conv_channels=4, conv_kernel_size=[3, 3]) if conv_layers else {}
    model = ConvBertForSequenceClassification(tiny_byte_config(num_labels=3, **conv)).eval()
    batch = byte_batch((12, 5, 9))
    with torch.no_grad():
        padded = model(**batch).logits
        for row, length in enumerate((12, 5, 9)):
            alone = model(**{name: tensor[row : row + 1, :length] for name, tensor in batch.items()}).logits
            torch.testing.assert_close(alone[0], padded[row], rtol=1e-5, atol=1e-5)


def test_no_parameter_is_vocabulary_sized_and_the_count_matches_a_hand_count():
    config = tiny_byte_config()
    model = ConvBertModel(config)
    assert all(VOCAB not in parameter.shape for parameter in model.parameters())
    h, i, d, n = config.hidden_size, config.intermediate_size, config.byte_embedding_size, config.max_token_bytes

    def linear(fan_in, fan_out):
        return fan_in * fan_out + fan_out

    byte_block = 2 * 2 * d + linear(d, 3 * d) + linear(d, d) + linear(d, 4 * d) + linear(4 * d, d)
    byte_embeddings = (BYTE_VOCAB_SIZE * d + n * d + config.byte_encoder_layers * byte_block + 2 * d
                       + linear(d, h) + 4 * h)  # bytes, byte positions, blocks, LayerNorm, projection, 4 specials
    embeddings = (config.max_position_embeddings + config.type_vocab_size) * h + 2 * h
    block = 3 * linear(h, h) + linear(h, h) + 2 * h + linear(h, i) + linear(i, h) + 2 * h
    pooler = linear(h, h)
    expected = byte_embeddings + embeddings + config.num_hidden_layers * block + pooler
    assert sum(parameter.numel() for parameter in model.parameters()) == expected
    # The MLM head decodes bytes: its projection is tied to the byte embeddings, so no vocabulary appears there either.
    mlm = ConvBertForMaskedLM(config)
    assert all(VOCAB not in parameter.shape for parameter in mlm.parameters())
    assert mlm.cls.decoder.weight is mlm.bert.byte_embeddings.byte_embeddings.weight


def test_byte_mode_config_is_validated():
    with pytest.raises(ValueError, match="input_mode"):
        tiny_byte_config(input_mode="characters")
    with pytest.raises(ValueError, match="cls_token_id"):
        tiny_byte_config(cls_token_id=None)
    with pytest.raises(ValueError, match="byte_attention_heads"):
        tiny_byte_config(byte_embedding_size=15)


def test_model_without_input_bytes_says_how_to_get_them():
    batch = byte_batch((6,))
    with pytest.raises(ValueError, match="input_bytes"):
        ConvBertModel(tiny_byte_config())(input_ids=batch["input_ids"])


def test_tokenizer_gives_each_token_its_bytes_with_a_space_at_word_starts(tokenizer):
    encoded = tokenizer("Playing café, ok")
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    texts = [bytes(b - BYTE_OFFSET for b in row if b != BYTE_PAD).decode() for row in encoded["input_bytes"]]
    assert tokens == ["[CLS]", "playing", "cafe", ",", "ok", "[SEP]"]
    assert texts == ["", " Playing", " café", ",", " ok", ""]  # the text's own bytes: case and accents kept


def test_collator_masks_whole_tokens_and_never_special_tokens(tokenizer):
    texts = ["The quick brown fox jumps over the lazy dog near the riverbank.", "Hello world!", "A b c d e f g h i j k"]
    rows = [tokenizer(text) for text in texts]
    original = tokenizer.pad(rows, padding=True, pad_to_multiple_of=8, return_tensors="pt")
    batch = ByteMaskingCollator(tokenizer, mlm_probability=0.5, seed=0)(rows)
    assert batch["labels"].shape == batch["input_bytes"].shape == original["input_bytes"].shape
    chosen = (batch["labels"] != -100).any(dim=-1)
    assert chosen.sum() > 5
    # Whole tokens: a chosen token's labels are all of its bytes and the end marker.
    torch.testing.assert_close(batch["labels"][chosen], byte_labels(original["input_bytes"])[chosen])
    assert (batch["labels"][~chosen] == -100).all()
    special = torch.isin(original["input_ids"], torch.tensor(tokenizer.all_special_ids))
    assert not (chosen & special).any()
    # [MASK]ed tokens carry the mask marker as their only byte; unchosen tokens are untouched.
    masked = batch["input_ids"] == tokenizer.mask_token_id
    assert (masked <= chosen).all() and masked.any()
    assert (batch["input_bytes"][masked][:, 0] == BYTE_MASK).all() and (batch["input_bytes"][masked][:, 1:] == 0).all()
    assert torch.equal(batch["input_bytes"][~chosen], original["input_bytes"][~chosen])
    assert torch.equal(batch["input_ids"][~chosen], original["input_ids"][~chosen])


def test_mlm_loss_falls_on_wikitext_in_byte_mode(tokenizer, tmp_path):
    paragraphs = load_paragraphs("sample:wikitext2", where={"split": "train"},
                                 normalize_wikitext=True)
    data = tokenize_paragraphs(paragraphs.select(range(300)), tokenizer, max_length=48)
    assert "input_bytes" in data.column_names
    torch.manual_seed(0)
    model = ConvBertForMaskedLM(tokenizer_config(
        tokenizer, hidden_size=64, num_hidden_layers=1, intermediate_size=128, max_position_embeddings=48,
        byte_embedding_size=32, byte_encoder_layers=1, hidden_dropout_prob=0, attention_probs_dropout_prob=0,
    ))
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=30, per_device_train_batch_size=16, learning_rate=3e-3,
                             warmup_steps=4, logging_steps=1, report_to=[], save_strategy="no", seed=0,
                             use_cpu=True, dataloader_num_workers=0)
    collator = ByteMaskingCollator(tokenizer, mlm_probability=0.2, seed=0)
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=collator)
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    print(f"byte MLM loss: first 5 steps {first:.3f}, last 5 steps {last:.3f}")
    assert last < 0.85 * first, (first, last)


def test_trainer_trains_a_byte_level_classifier_with_padding_collator(tokenizer, tmp_path):
    texts = ["good film, loved it", "terrible plot and acting", "a wonderful day", "awful, just awful"] * 4
    data = Dataset.from_dict({"text": texts, "label": [1, 0, 1, 0] * 4})
    data = data.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=32), batched=True,
                    remove_columns=["text"])
    model = ConvBertForSequenceClassification(tokenizer_config(tokenizer, num_labels=2))
    before = model.bert.byte_embeddings.projection.weight.detach().clone()
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=4, per_device_train_batch_size=8, learning_rate=1e-3,
                             report_to=[], save_strategy="no", use_cpu=True, logging_steps=1)
    trainer = Trainer(model=model, args=args, train_dataset=data,
                      data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8))
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 4 and all(loss == loss for loss in losses)  # finite, not NaN
    assert not torch.equal(model.bert.byte_embeddings.projection.weight, before)  # the byte path was trained


def test_byte_mlm_round_trip_and_classifier_from_its_folder(tokenizer, tmp_path):
    model = ConvBertForMaskedLM(tiny_byte_config()).eval()
    batch = byte_batch((9, 6))
    model.save_pretrained(tmp_path)
    reloaded = ConvBertForMaskedLM.from_pretrained(tmp_path).eval()
    assert reloaded.cls.decoder.weight is reloaded.bert.byte_embeddings.byte_embeddings.weight
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, model(**batch).logits, rtol=0, atol=0)
    classifier = ConvBertForSequenceClassification.from_pretrained(tmp_path, num_labels=2)
    torch.testing.assert_close(classifier.bert.byte_embeddings.projection.weight,
                               model.bert.byte_embeddings.projection.weight)
    tokenizer.save_pretrained(tmp_path)  # with tlm_hf imported, no remote code is needed for the tokenizer
    assert type(AutoTokenizer.from_pretrained(tmp_path)) is ConvBertByteTokenizer


def test_saved_folder_turns_text_into_logits_with_remote_code_only(tokenizer, tmp_path):
    folder = tmp_path / "byte-classifier"
    model = ConvBertForSequenceClassification(tokenizer_config(tokenizer, num_labels=2)).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    texts = ["A byte-level model reads every token's bytes.", "Déjà vu"]
    with torch.no_grad():
        expected = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
    (tmp_path / "expected.json").write_text(json.dumps(expected.tolist()))
    script = """
        import json, sys
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
        folder, expected, texts = sys.argv[1], json.load(open(sys.argv[2])), json.loads(sys.argv[3])
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
        assert type(tokenizer).__name__ == "ConvBertByteTokenizer", type(tokenizer)
        inputs = tokenizer(texts, padding=True, return_tensors="pt")
        assert inputs["input_bytes"].shape[-1] == 16
        model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
        with torch.no_grad():
            torch.testing.assert_close(model(**inputs).logits, torch.tensor(expected), rtol=1e-5, atol=1e-5)
        classify = pipeline("text-classification", model=folder, trust_remote_code=True)
        print(json.dumps(classify(texts)))
    """
    result = run_without_tlm_hf(script, folder, tmp_path / "expected.json", json.dumps(texts), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    predictions = json.loads(result.stdout.strip().splitlines()[-1])
    assert [p["label"] for p in predictions] == [model.config.id2label[int(i)] for i in expected.argmax(-1)]


@pytest.mark.parametrize("batched", [False, True])  # members one by one, or as one vmap computation
def test_soft_committee_takes_byte_level_members_only(batched):
    members = [ConvBertForSequenceClassification(tiny_byte_config(num_labels=3)).eval() for _ in range(2)]
    committee = SoftCommitteeForSequenceClassification.from_members(members, batch_identical_members=batched)
    batch = byte_batch((7, 4))
    with torch.no_grad():
        logits = committee(**batch).logits
        expected = sum(member(**batch).logits for member in members)
    torch.testing.assert_close(logits, expected)
    token_member = ConvBertForSequenceClassification(
        tiny_byte_config(num_labels=3, input_mode="tokens")
    )
    with pytest.raises(ValueError, match="input_mode"):
        SoftCommitteeForSequenceClassification.from_members([members[0], token_member])


RUN_FILES = {
    ConvBertForMaskedLM: ("pretraining_stats.json", dict(corpus="sample:wikitext2", subset="random", W_s=8, T_W=50,
                                                         seed=42)),
    ConvBertForSequenceClassification: ("results.json", dict(
        task="tiny", arm="scratch", pretrained_from=None, seed=0, accuracy_final=0.5, accuracy_best=0.5, best_epoch=1,
        accuracy_per_epoch=[0.5], train_size=8, test_size=8, num_labels=2)),
}


@pytest.mark.parametrize("model_class", list(RUN_FILES), ids=["mlm", "classifier"])
def test_byte_level_run_exports_with_tlm_publish_and_runs_without_tlm_hf(tokenizer, tmp_path, model_class):
    run = tmp_path / "run"
    model = model_class(tokenizer_config(tokenizer, num_labels=2))
    model.save_pretrained(run)
    tokenizer.save_pretrained(run)
    name, content = RUN_FILES[model_class]
    (run / name).write_text(json.dumps(content))
    report = publish(run, "tlm/byte-level", export_dir=tmp_path / "export", dry_run=True)
    assert "tokenization_conv_bert.py" in {name for name, _ in report["files"]}  # the tokenizer's code travels
    assert report["verified"]["class"] == model_class.__name__
