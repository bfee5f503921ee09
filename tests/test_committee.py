"""Soft committee: the sum of member logits on every execution path, building, saving, loading, pipelines."""

import json

import pytest
from model_helpers import padded_batch
from remote_code import run_without_tlm_hf
import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    BertTokenizer,
    pipeline,
)

from tlm_hf import (
    SOFT_COMMITTEE_TASK,
    ConvBertConfig,
    ConvBertForSequenceClassification,
    SoftCommitteeConfig,
    SoftCommitteeForSequenceClassification,
)

VOCAB = 60
LABELS = dict(id2label={0: "world", 1: "sports", 2: "business"}, label2id={"world": 0, "sports": 1, "business": 2})
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(VOCAB - 5)]


def tokenizer(words=WORDS):
    return BertTokenizer(vocab={word: i for i, word in enumerate(words)})


def conv_bert(seed, **overrides):
    """A tiny fine-tuned-looking ConvBert classifier: random weights and BatchNorm statistics, eval mode."""
    settings = dict(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=32, **LABELS,
    )
    torch.manual_seed(seed)
    model = ConvBertForSequenceClassification(ConvBertConfig(**{**settings, **overrides}))
    generator = torch.Generator().manual_seed(seed)
    for norm in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        # Fresh BatchNorm (mean 0, var 1, no shift) maps zeros to zeros and would hide padding leaks.
        norm.running_mean.normal_(generator=generator)
        norm.running_var.uniform_(0.5, 2.0, generator=generator)
        norm.bias.data.normal_(generator=generator)
    return model.eval()


def bert(seed):
    """A built-in transformers architecture as a member."""
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=32, pad_token_id=0, **LABELS,
    )
    return BertForSequenceClassification(config).eval()


def mixed_members():
    """Two members of one architecture (a batched group), one with CLs, one built-in BERT."""
    with_cls = dict(num_conv_layers=2, conv_channels=4, conv_kernel_size=[4, 3])
    return [conv_bert(0), conv_bert(1), conv_bert(2, **with_cls), bert(3)]


def batch(lengths=(20, 13, 7), seed=0):
    return padded_batch(VOCAB, lengths, seed)


def sequential_logits(members, input_ids, attention_mask):
    with torch.no_grad():
        return torch.stack([member(input_ids, attention_mask=attention_mask).logits for member in members])


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("concurrent", [False, True])
def test_committee_logits_equal_sum_of_members(batched, concurrent):
    members = mixed_members()
    committee = SoftCommitteeForSequenceClassification.from_members(
        members, batch_identical_members=batched, concurrent_members=concurrent
    )
    input_ids, attention_mask = batch()
    expected = sequential_logits(members, input_ids, attention_mask)
    with torch.no_grad():
        output = committee(input_ids, attention_mask=attention_mask, output_member_logits=True)
    # Threads run the very same operations; vmap batches matrix products, which may round differently.
    tolerance = dict(rtol=1e-5, atol=1e-6) if batched else dict(rtol=0, atol=0)
    torch.testing.assert_close(output.member_logits, expected.transpose(0, 1), **tolerance)
    torch.testing.assert_close(output.logits, expected.sum(dim=0), **tolerance)



@pytest.mark.parametrize("batched", [False, True])
def test_committee_of_unpadded_members_gives_the_sum_of_their_logits(batched):
    members = [conv_bert(0, unpad_tokens=True), conv_bert(1, unpad_tokens=True)]
    committee = SoftCommitteeForSequenceClassification.from_members(members, batch_identical_members=batched)
    input_ids, attention_mask = batch()
    expected = sequential_logits(members, input_ids, attention_mask)
    with torch.no_grad():
        logits = committee(input_ids, attention_mask=attention_mask).logits
    torch.testing.assert_close(logits, expected.sum(dim=0), rtol=1e-5, atol=1e-6)


def test_identical_members_form_one_group_batched_by_default_on_a_gpu_only():
    committee = SoftCommitteeForSequenceClassification.from_members(mixed_members())
    assert committee._groups == [[0, 1], [2], [3]]
    with torch.no_grad():
        committee(*batch())
    assert not committee._stacked  # on a CPU the group ran member by member
    committee.config.batch_identical_members = True
    with torch.no_grad():
        committee(*batch())
    assert list(committee._stacked) == [(0, 1)]


def test_member_logits_only_on_request():
    committee = SoftCommitteeForSequenceClassification.from_members(mixed_members())
    with torch.no_grad():
        output = committee(*batch())
    assert output.member_logits is None and output.logits.shape == (3, 3)


@pytest.mark.parametrize("batched", [False, True])
def test_committee_of_mean_and_cls_pooling_members_gives_the_sum_of_their_logits(batched):
    members = [conv_bert(0, classifier_pooling="mean"), conv_bert(1), conv_bert(2, classifier_pooling="mean")]
    committee = SoftCommitteeForSequenceClassification.from_members(members, batch_identical_members=batched)
    assert committee._groups == [[0, 2], [1]]
    input_ids, attention_mask = batch()
    expected = sequential_logits(members, input_ids, attention_mask).sum(dim=0)
    with torch.no_grad():
        logits = committee(input_ids, attention_mask=attention_mask).logits
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batched", [False, True])
def test_committee_of_members_with_shared_weights_and_factorised_embeddings_saves_loads_and_sums(tmp_path, batched):
    two_blocks = dict(num_hidden_layers=2)
    members = [
        conv_bert(0, share_ffn=True, **two_blocks), conv_bert(1, share_ffn=True, **two_blocks),
        conv_bert(2, share_blocks=True, norm_position="pre", **two_blocks),
        conv_bert(3, embedding_size=16), conv_bert(4, embedding_size=16),
    ]
    committee = SoftCommitteeForSequenceClassification.from_members(members, batch_identical_members=batched)
    assert committee._groups == [[0, 1], [2], [3, 4]]
    committee.save_pretrained(tmp_path)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path, batch_identical_members=batched)
    input_ids, attention_mask = batch()
    expected = sequential_logits(members, input_ids, attention_mask).sum(dim=0)
    with torch.no_grad():
        for model in (committee, reloaded):
            torch.testing.assert_close(model(input_ids, attention_mask=attention_mask).logits, expected,
                                       rtol=1e-5, atol=1e-6)


def test_committee_is_padding_safe_in_eval_mode():
    committee = SoftCommitteeForSequenceClassification.from_members(mixed_members())
    input_ids, attention_mask = batch(lengths=(20, 9))
    with torch.no_grad():
        padded = committee(input_ids, attention_mask=attention_mask, output_member_logits=True)
        alone = committee(input_ids[1:, :9], attention_mask=attention_mask[1:, :9], output_member_logits=True)
    torch.testing.assert_close(padded.member_logits[1], alone.member_logits[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(padded.logits[1], alone.logits[0], rtol=1e-5, atol=1e-5)


def test_batched_group_follows_in_place_weight_updates():
    members = mixed_members()
    committee = SoftCommitteeForSequenceClassification.from_members(members, batch_identical_members=True)
    input_ids, attention_mask = batch()
    with torch.no_grad():
        committee(input_ids, attention_mask=attention_mask)  # stacks the group's weights
        members[1].classifier.bias.add_(1.0)
        output = committee(input_ids, attention_mask=attention_mask)
    expected = sequential_logits(members, input_ids, attention_mask).sum(dim=0)
    torch.testing.assert_close(output.logits, expected, rtol=1e-5, atol=1e-6)


def test_training_runs_members_one_by_one_and_gradients_reach_every_member():
    members = mixed_members()
    committee = SoftCommitteeForSequenceClassification.from_members(members).train()
    input_ids, attention_mask = batch()
    labels = torch.tensor([0, 2, 1])
    output = committee(input_ids, attention_mask=attention_mask, labels=labels)
    output.loss.backward()
    assert all(member.classifier.weight.grad is not None for member in members)


def test_loss_is_cross_entropy_of_the_committee_logits():
    committee = SoftCommitteeForSequenceClassification.from_members(mixed_members())
    labels = torch.tensor([0, 2, 1])
    with torch.no_grad():
        output = committee(*batch(), labels=labels)
    torch.testing.assert_close(output.loss, nn.functional.cross_entropy(output.logits, labels))


def test_save_load_round_trip_is_one_config_and_one_weights_file(tmp_path):
    committee = SoftCommitteeForSequenceClassification.from_members(mixed_members())
    committee.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "tlm_soft_committee" and len(config["members"]) == 4
    assert [m["model_type"] for m in config["members"]] == ["tlm_conv_bert"] * 3 + ["bert"]
    assert sorted(p.name for p in tmp_path.glob("*.safetensors")) == ["model.safetensors"]
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert type(reloaded) is SoftCommitteeForSequenceClassification and not reloaded.training
    assert isinstance(AutoConfig.from_pretrained(tmp_path), SoftCommitteeConfig)
    assert reloaded.config.id2label == LABELS["id2label"]
    input_ids, attention_mask = batch()
    with torch.no_grad():
        expected = committee(input_ids, attention_mask=attention_mask).logits
        torch.testing.assert_close(reloaded(input_ids, attention_mask=attention_mask).logits, expected, rtol=0, atol=0)


def test_from_members_takes_saved_folders(tmp_path):
    members = mixed_members()[:2]
    for index, member in enumerate(members):
        member.save_pretrained(tmp_path / f"member-{index}")
        tokenizer().save_pretrained(tmp_path / f"member-{index}")
    committee = SoftCommitteeForSequenceClassification.from_members([tmp_path / "member-0", members[1]])
    input_ids, attention_mask = batch()
    expected = sequential_logits(members, input_ids, attention_mask).sum(dim=0)
    with torch.no_grad():
        torch.testing.assert_close(committee(input_ids, attention_mask=attention_mask).logits, expected)


@pytest.mark.parametrize(
    "odd_member, message",
    [
        (lambda: conv_bert(9, id2label={0: "world", 1: "business", 2: "sports"}, label2id=None),
         r"member 1 \(ConvBertForSequenceClassification\) has labels \{0: 'world', 1: 'business', 2: 'sports'\}"),
        (lambda: conv_bert(9, vocab_size=VOCAB + 1), "member 1 .* has vocab_size=61 but member 0 .* has 60"),
        (lambda: conv_bert(9, max_position_embeddings=64),
         "member 1 .* has max_position_embeddings=64 .* maximum length"),
        (lambda: conv_bert(9, pad_token_id=3), "member 1 .* has pad_token_id=3"),
    ],
)
def test_mismatched_member_is_refused_naming_it_and_the_difference(odd_member, message):
    with pytest.raises(ValueError, match=message):
        SoftCommitteeForSequenceClassification.from_members([conv_bert(0), odd_member()])


def test_member_with_a_different_tokenizer_vocabulary_is_refused(tmp_path):
    swapped = WORDS[:5] + [WORDS[6], WORDS[5]] + WORDS[7:]
    for index, words in enumerate([WORDS, swapped]):
        conv_bert(index).save_pretrained(tmp_path / f"member-{index}")
        tokenizer(words).save_pretrained(tmp_path / f"member-{index}")
    with pytest.raises(ValueError, match=r"member 1 \(.*member-1\)'s tokenizer differs from member 0"):
        SoftCommitteeForSequenceClassification.from_members([tmp_path / "member-0", tmp_path / "member-1"])


def test_member_of_a_custom_architecture_is_refused():
    member = conv_bert(0)
    member.config.model_type = "someone_elses_model"
    with pytest.raises(ValueError, match="someone_elses_model"):
        SoftCommitteeForSequenceClassification.from_members([member])


def test_standard_text_classification_pipeline_reads_committee_logits():
    committee = SoftCommitteeForSequenceClassification.from_members(mixed_members())
    classify = pipeline("text-classification", model=committee, tokenizer=tokenizer())
    prediction = classify("w1 w2 w3 w4", top_k=None)
    input_ids = tokenizer()("w1 w2 w3 w4", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        probabilities = committee(input_ids).logits.softmax(-1)[0]
    assert {p["label"]: round(p["score"], 5) for p in prediction} == {
        LABELS["id2label"][i]: round(float(p), 5) for i, p in enumerate(probabilities)
    }


def test_committee_pipeline_gives_committee_and_member_decisions():
    members = mixed_members()
    committee = SoftCommitteeForSequenceClassification.from_members(members)
    classify = pipeline(SOFT_COMMITTEE_TASK, model=committee, tokenizer=tokenizer())
    texts = ["w1 w2 w3 w4", "w9 " * 40]  # the second is longer than the members' 32 positions: truncated
    predictions = classify(texts)
    assert len(predictions) == 2 and classify(texts[0]) == predictions[:1]
    input_ids = tokenizer()(texts[0], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        output = committee(input_ids, output_member_logits=True)
    first = predictions[0]
    assert set(first) == {"label", "score", "members"}
    assert first["label"] == LABELS["id2label"][int(output.logits.argmax())]
    chosen = int(output.logits.argmax())
    assert first["score"] == pytest.approx(float(output.member_logits[0].softmax(-1)[:, chosen].mean()), rel=1e-5)
    assert [m["label"] for m in first["members"]] == [
        LABELS["id2label"][int(i)] for i in output.member_logits[0].argmax(-1)
    ]
    assert all(0 < m["score"] <= 1 for m in first["members"]) and len(first["members"]) == 4


def test_committee_pipeline_score_lies_within_its_members_scores_for_the_chosen_label():
    """The decision is the sum of logits; the score is the members' mean probability, never more confident than the
    most confident member (the softmax of the summed logits was)."""
    members = [conv_bert(seed) for seed in range(3)]
    committee = SoftCommitteeForSequenceClassification.from_members(members)
    classify = pipeline(SOFT_COMMITTEE_TASK, model=committee, tokenizer=tokenizer())
    for text in ["w1 w2 w3 w4", "w7 w8", "w20 w30 w40 w50 w51"]:
        prediction = classify(text)[0]
        input_ids = tokenizer()(text, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            output = committee(input_ids, output_member_logits=True)
        chosen = int(output.logits.argmax())
        member_scores = output.member_logits[0].softmax(-1)[:, chosen]
        assert prediction["label"] == LABELS["id2label"][chosen]
        assert float(member_scores.min()) - 1e-6 <= prediction["score"] <= float(member_scores.max()) + 1e-6
        agreeing = [m["score"] for m in prediction["members"] if m["label"] == prediction["label"]]
        if len(agreeing) == len(members):
            assert min(agreeing) - 1e-6 <= prediction["score"] <= max(agreeing) + 1e-6


REMOTE_LOAD = """
import json
import torch
from transformers import AutoModelForSequenceClassification, pipeline

folder, expected = sys.argv[1], torch.load(sys.argv[2])
model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)
assert "tlm_hf" not in sys.modules and type(model).__module__.startswith("transformers_modules")
with torch.no_grad():
    logits = model(expected["input_ids"], attention_mask=expected["attention_mask"]).logits
torch.testing.assert_close(logits, expected["logits"], rtol=0, atol=0)
standard = pipeline("text-classification", model=folder, trust_remote_code=True)("w1 w2 w3")
committee = pipeline("soft-committee-classification", model=folder, trust_remote_code=True)("w1 w2 w3")
assert standard[0]["label"] == committee[0]["label"], (standard, committee)
print(json.dumps(committee[0]))
"""


def test_saved_committee_loads_with_remote_code_where_tlm_hf_cannot_be_imported(tmp_path):
    committee = SoftCommitteeForSequenceClassification.from_members(mixed_members())
    classify = pipeline(SOFT_COMMITTEE_TASK, model=committee, tokenizer=tokenizer())
    classify.save_pretrained(tmp_path / "committee")
    config = json.loads((tmp_path / "committee" / "config.json").read_text())
    assert set(config["custom_pipelines"]) == {SOFT_COMMITTEE_TASK}
    input_ids, attention_mask = batch()
    with torch.no_grad():
        logits = committee(input_ids, attention_mask=attention_mask).logits
    torch.save(dict(input_ids=input_ids, attention_mask=attention_mask, logits=logits), tmp_path / "expected.pt")
    result = run_without_tlm_hf(REMOTE_LOAD, tmp_path / "committee", tmp_path / "expected.pt", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(output["members"]) == 4 and output["label"] in LABELS["label2id"]


def test_model_save_alone_carries_the_committee_pipeline(tmp_path):
    SoftCommitteeForSequenceClassification.from_members(mixed_members()[:1]).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["custom_pipelines"][SOFT_COMMITTEE_TASK]["impl"] == "pipeline_soft_committee.SoftCommitteePipeline"
    assert {p.name for p in tmp_path.glob("*.py")} == {
        "configuration_soft_committee.py", "modeling_soft_committee.py", "pipeline_soft_committee.py",
        "configuration_conv_bert.py", "modeling_conv_bert.py",
    }


def test_a_committee_without_members_is_refused():
    with pytest.raises(ValueError, match="from_members"):
        SoftCommitteeForSequenceClassification(SoftCommitteeConfig())
    with pytest.raises(ValueError, match="at least one member"):
        SoftCommitteeConfig(members=[])
