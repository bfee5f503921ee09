"""ConvBert model family: equivalences, round trips, Auto classes, remote code, reference import."""

import json

import pytest
from model_helpers import padded_batch
from remote_code import run_without_tlm_hf
import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
)

from tlm_hf import PRESETS, ConvBertConfig, ConvBertForMaskedLM, ConvBertForSequenceClassification, ConvBertModel
from tlm_hf.cli import main as tlm_main
from tlm_hf.hub.convert_reference import convert_reference_checkpoint

VOCAB = 120


def tiny_config(**overrides) -> ConvBertConfig:
    settings = dict(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=32, num_conv_layers=2, conv_channels=4, conv_kernel_size=[4, 3],
    )
    return ConvBertConfig(**{**settings, **overrides})


def batch(seed=0, lengths=(20, 13)):
    """Two sequences padded to the longest, with an attention mask."""
    return padded_batch(VOCAB, lengths, seed)


def randomize_batch_norm(model):
    """Running statistics of real activations and random shifts: fresh BatchNorm layers (mean 0, var 1,
    no shift) map zeros to zeros and would hide padding leaking through the CLs."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: the statistics of the batch below
    model.train()
    with torch.no_grad():
        model(batch(seed=3, lengths=(32, 32))[0])
    generator = torch.Generator().manual_seed(1)
    for norm in norms:
        norm.bias.data.copy_(0.5 * torch.randn(norm.bias.shape, generator=generator))
        norm.momentum = 0.1
    return model.eval()


@pytest.mark.parametrize("model_class", [ConvBertForMaskedLM, ConvBertForSequenceClassification])
def test_save_load_round_trip_gives_identical_outputs(tmp_path, model_class):
    model = randomize_batch_norm(model_class(tiny_config())).eval()
    input_ids, attention_mask = batch()
    model.save_pretrained(tmp_path)
    reloaded = model_class.from_pretrained(tmp_path).eval()
    assert reloaded.config.to_diff_dict() == model.config.to_diff_dict()
    torch.testing.assert_close(
        reloaded(input_ids, attention_mask).logits, model(input_ids, attention_mask).logits, rtol=0, atol=0
    )


def test_every_auto_class_resolves_to_conv_bert(tmp_path):
    ConvBertForMaskedLM(tiny_config()).save_pretrained(tmp_path)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), ConvBertConfig)
    assert type(AutoModel.from_pretrained(tmp_path)) is ConvBertModel
    assert type(AutoModelForMaskedLM.from_pretrained(tmp_path)) is ConvBertForMaskedLM
    assert type(AutoModelForSequenceClassification.from_pretrained(tmp_path)) is ConvBertForSequenceClassification
    assert type(AutoModelForMaskedLM.from_config(tiny_config())) is ConvBertForMaskedLM


def test_builtin_yitutech_convbert_is_untouched_by_registration():
    from transformers import ConvBertConfig as YituConvBertConfig
    from transformers.models.convbert.modeling_convbert import ConvBertModel as YituConvBertModel

    config = YituConvBertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32, embedding_size=32)
    assert type(AutoModel.from_config(config)) is YituConvBertModel
    assert ConvBertConfig.model_type == "tlm_conv_bert"


def test_saved_config_maps_every_auto_class_to_the_copied_code(tmp_path):
    ConvBertForSequenceClassification(tiny_config()).save_pretrained(tmp_path)
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert set(auto_map) == {"AutoConfig", "AutoModel", "AutoModelForMaskedLM", "AutoModelForSequenceClassification"}
    assert (tmp_path / "modeling_conv_bert.py").exists() and (tmp_path / "configuration_conv_bert.py").exists()


@pytest.mark.parametrize("num_conv_layers", [0, 2])
def test_eager_and_sdpa_attention_agree(num_conv_layers):
    conv = {} if num_conv_layers else dict(conv_channels=None, conv_kernel_size=None)
    config = tiny_config(num_conv_layers=num_conv_layers, **conv)
    torch.manual_seed(0)
    sdpa = randomize_batch_norm(ConvBertForMaskedLM(config)).eval()
    eager = ConvBertForMaskedLM(config).eval()
    eager.load_state_dict(sdpa.state_dict())
    sdpa.set_attn_implementation("sdpa")
    eager.set_attn_implementation("eager")
    input_ids, attention_mask = batch()
    for mask in (attention_mask, None):
        torch.testing.assert_close(eager(input_ids, mask).logits, sdpa(input_ids, mask).logits, rtol=1e-4, atol=1e-5)


def test_sdpa_is_the_default_attention():
    assert ConvBertForMaskedLM(tiny_config()).config._attn_implementation == "sdpa"


def test_attention_is_bidirectional_without_padding_mask():
    """SDPA would run causal if the module did not say otherwise: the first token must see the last."""
    model = ConvBertModel(tiny_config(num_conv_layers=0, conv_channels=None, conv_kernel_size=None)).eval()
    input_ids, _ = batch(lengths=(10,))
    changed = input_ids.clone()
    changed[0, -1] = (changed[0, -1] + 1) % VOCAB
    first = model(input_ids).last_hidden_state[0, 0]
    assert not torch.allclose(first, model(changed).last_hidden_state[0, 0])


@pytest.mark.parametrize("kernel", [[3, 3], [4, 3], [5, 2]])
def test_padded_and_unpadded_sequences_agree_in_eval_mode(kernel):
    model = randomize_batch_norm(ConvBertForSequenceClassification(tiny_config(conv_kernel_size=kernel))).eval()
    input_ids, attention_mask = batch(lengths=(32, 9))
    padded = model(input_ids, attention_mask).logits[1]
    alone = model(input_ids[1:, :9], attention_mask[1:, :9]).logits[0]
    torch.testing.assert_close(padded, alone, rtol=1e-5, atol=1e-5)


def test_sparse_mlm_loss_equals_dense_loss():
    model = randomize_batch_norm(ConvBertForMaskedLM(tiny_config(sparse_prediction=True))).eval()
    input_ids, attention_mask = batch()
    labels = torch.full_like(input_ids, -100)
    labels[0, [1, 4, 7]] = input_ids[0, [1, 4, 7]]
    labels[1, [2, 3]] = input_ids[1, [2, 3]]
    sparse = model(input_ids, attention_mask, labels=labels)
    dense_logits = model(input_ids, attention_mask).logits
    dense_loss = nn.functional.cross_entropy(dense_logits.view(-1, VOCAB), labels.view(-1), ignore_index=-100)
    torch.testing.assert_close(sparse.loss, dense_loss)
    assert sparse.logits.shape == (5, VOCAB)
    torch.testing.assert_close(sparse.logits, dense_logits[labels != -100])


def test_without_sparse_prediction_labels_keep_full_logits_and_give_the_same_loss():
    sparse = randomize_batch_norm(ConvBertForMaskedLM(tiny_config(sparse_prediction=True))).eval()
    dense = ConvBertForMaskedLM(tiny_config()).eval()
    dense.load_state_dict(sparse.state_dict())
    assert not dense.config.sparse_prediction  # opt-in, as in ModernBERT
    input_ids, attention_mask = batch()
    labels = torch.full_like(input_ids, -100)
    labels[0, [1, 4, 7]] = input_ids[0, [1, 4, 7]]
    full = dense(input_ids, attention_mask, labels=labels)
    assert full.logits.shape == (*input_ids.shape, VOCAB)
    torch.testing.assert_close(full.loss, sparse(input_ids, attention_mask, labels=labels).loss)


def test_input_ids_are_range_checked_on_the_cpu_without_a_device_sync_elsewhere(monkeypatch):
    model = ConvBertModel(tiny_config()).eval()
    input_ids, attention_mask = batch()
    with pytest.raises(ValueError, match="outside this model's vocabulary"):
        model(input_ids.masked_fill(attention_mask == 0, VOCAB), attention_mask)
    # Off the CPU (a "meta" tensor stands for an accelerator's) the ids' range is not read back to the host.
    def read_back(*args, **kwargs):
        raise AssertionError("the input check synchronised with the device")

    monkeypatch.setattr(torch, "aminmax", read_back)
    model._check_inputs(input_ids.to("meta"), attention_mask.to("meta"), None)


def test_mlm_loss_honours_num_items_in_batch_for_gradient_accumulation():
    model = ConvBertForMaskedLM(tiny_config()).eval()
    input_ids, attention_mask = batch()
    labels = torch.full_like(input_ids, -100)
    labels[:, 2] = input_ids[:, 2]
    mean = model(input_ids, attention_mask, labels=labels).loss
    summed_over_8 = model(input_ids, attention_mask, labels=labels, num_items_in_batch=8).loss
    torch.testing.assert_close(summed_over_8, mean * 2 / 8)


def test_fill_mask_pipeline_uses_full_logits(tmp_path):
    from transformers import BertTokenizer, pipeline

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(VOCAB - 5)]
    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(vocab)})
    model = ConvBertForMaskedLM(tiny_config(mask_token_id=4, cls_token_id=2, sep_token_id=3))
    fill = pipeline("fill-mask", model=model, tokenizer=tokenizer, top_k=3)
    predictions = fill("w1 w2 [MASK] w3")
    assert len(predictions) == 3 and all(p["token_str"] in vocab for p in predictions)


def test_classifier_from_mlm_checkpoint_reuses_encoder_and_only_the_head_is_new(tmp_path):
    mlm = randomize_batch_norm(ConvBertForMaskedLM(tiny_config()))
    mlm.save_pretrained(tmp_path)
    classifier, info = ConvBertForSequenceClassification.from_pretrained(
        tmp_path, num_labels=3, output_loading_info=True
    )
    assert sorted(info["missing_keys"]) == [
        "bert.pooler.dense.bias", "bert.pooler.dense.weight", "classifier.bias", "classifier.weight"
    ]
    assert not info["unexpected_keys"] and not info["mismatched_keys"]
    for name, tensor in mlm.bert.state_dict().items():
        torch.testing.assert_close(classifier.bert.state_dict()[name], tensor, rtol=0, atol=0)


def test_classifier_keeps_label_names():
    config = tiny_config(id2label={0: "sports", 1: "world"}, label2id={"sports": 0, "world": 1})
    model = ConvBertForSequenceClassification(config)
    assert model.config.num_labels == 2 and model.classifier.out_features == 2
    assert model.config.id2label[1] == "world"


def test_gradient_checkpointing_gives_the_same_gradients():
    config = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    input_ids, attention_mask = batch()
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = ConvBertForMaskedLM(config).train()
        if checkpointing:
            model.gradient_checkpointing_enable()
        model(input_ids, attention_mask, labels=labels).loss.backward()
        grads.append(model.bert.encoder.layer[0].attention.self.query.weight.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_num_parameters_counts_tied_weights_once():
    model = ConvBertForMaskedLM(tiny_config())
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())
    untied = sum(p.numel() for p in model.parameters()) + VOCAB * 32
    assert model.num_parameters() < untied


# Exact counts with the bert-base-uncased vocabulary (30,522), for the README's preset table.
PRESET_PARAMETERS = {
    "bert-6": 66_692_154,
    "bert-1-cl2-d64-k3x3-h8": 19_179_325,
    "bert-1-cl2-d64-k3x3-h12": 31_290_685,
    "bert-1-h24": 77_810_490,
    "bert-1-cl2-d64-k16x3-h12": 31_452_925,
    "bert-1-cl3-d32-k3x3-h12": 31_271_837,
    "bert-1-h12": 31_252_794,
    "bert-1-cl1-d64-k3x3-h12": 31_253_629,
    "bert-1-cl2-d8-k3x3-h3": 6_399_101,
    "bert-1-cl2-d8-k3x3-h4": 8_734_717,
    "bert-1-h8": 19_141_434,
    "bert-1-cl2-d8-k16x3-h4": 8_737_525,
    "bert-1-cl3-d4-k3x3-h4": 8_734_377,
}


@pytest.mark.parametrize("name", list(PRESET_PARAMETERS))
def test_preset_parameter_counts(name):
    with torch.device("meta"):
        model = ConvBertForMaskedLM(ConvBertConfig.from_preset(name))
    assert model.num_parameters() == PRESET_PARAMETERS[name]


STLM_PRESET_PARAMETERS = {"stlm-10m": 9_420_546, "stlm-50m": 48_926_210, "stlm-bert-1": 8_739_842}


@pytest.mark.parametrize("name", list(STLM_PRESET_PARAMETERS))
def test_stlm_presets_reach_their_parameter_targets_without_a_vocabulary_sized_matrix(name):
    special_ids = dict(pad_token_id=0, cls_token_id=101, sep_token_id=102, mask_token_id=103)  # bert-base-uncased's
    with torch.device("meta"):
        model = ConvBertForMaskedLM(ConvBertConfig.from_preset(name, **special_ids))
    assert model.num_parameters() == STLM_PRESET_PARAMETERS[name]
    assert all(30522 not in parameter.shape for parameter in model.parameters())


def test_presets_cover_the_paper_architectures():
    assert set(PRESET_PARAMETERS) <= set(PRESETS)
    bert6 = ConvBertConfig.from_preset("bert-6")
    assert (bert6.num_hidden_layers, bert6.num_attention_heads, bert6.intermediate_size) == (6, 12, 3072)
    member = ConvBertConfig.from_preset("bert-1-cl2-d64-k16x3-h12")
    assert (member.num_conv_layers, member.conv_channels, member.conv_kernel_size) == (2, 64, [16, 3])


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_has_heads_of_64_and_a_feed_forward_four_times_the_hidden_size(name):
    preset = PRESETS[name]
    assert preset["hidden_size"] == 64 * preset["num_attention_heads"]
    assert preset["intermediate_size"] == 4 * preset["hidden_size"]


def test_tiny_preset_is_the_quick_matrix_encoder():
    tiny = ConvBertConfig.from_preset("tiny")
    quick = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512,
                 classifier_pooling="mean", num_conv_layers=0, norm_position="post")
    assert {field: getattr(tiny, field) for field in quick} == quick


def test_preset_fields_can_be_overridden():
    config = ConvBertConfig.from_preset("bert-6", vocab_size=8000, pad_token_id=3)
    assert config.vocab_size == 8000 and config.pad_token_id == 3 and config.num_hidden_layers == 6


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="Known presets: bert-6, bert-1-cl2-d64-k3x3-h8"):
        ConvBertConfig.from_preset("bert-7")


def test_square_int_kernel_becomes_a_pair():
    assert tiny_config(conv_kernel_size=3).conv_kernel_size == [3, 3]


@pytest.mark.parametrize(
    "overrides, field",
    [
        (dict(hidden_size=30), "divisible by num_attention_heads"),
        (dict(hidden_size=0), "hidden_size"),
        (dict(num_hidden_layers=-1), "num_hidden_layers"),
        (dict(vocab_size=0), "vocab_size"),
        (dict(conv_channels=0), "conv_channels"),
        (dict(conv_kernel_size=[0, 3]), "conv_kernel_size"),
        (dict(conv_kernel_size=[33, 3]), "larger than the 32 x 32 plane"),
        (dict(conv_kernel_size=[3, 33]), "larger than the 32 x 32 plane"),
        (dict(conv_kernel_size=[3, 3, 3]), "tokens, hidden"),
        (dict(num_conv_layers=0), "num_conv_layers=0"),
        (dict(num_conv_layers=-1), "num_conv_layers"),
        (dict(pad_token_id=VOCAB), "pad_token_id=120 is outside the vocabulary"),
        (dict(mask_token_id=-1), "mask_token_id"),
        (dict(hidden_dropout_prob=1.5), "hidden_dropout_prob"),
    ],
)
def test_invalid_configuration_fails_at_construction_naming_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        tiny_config(**overrides)


def test_even_kernels_are_valid():
    model = ConvBertForSequenceClassification(tiny_config(conv_kernel_size=[16, 2])).eval()
    input_ids, attention_mask = batch()
    assert model(input_ids, attention_mask).logits.shape == (2, 2)


def test_too_long_input_is_refused_with_the_fix():
    model = ConvBertModel(tiny_config())
    with pytest.raises(ValueError, match="truncat"):
        model(torch.ones(1, 40, dtype=torch.long))


@pytest.mark.parametrize("model_class", [ConvBertModel, ConvBertForMaskedLM, ConvBertForSequenceClassification])
@pytest.mark.parametrize("bad_id", [VOCAB, VOCAB + 7, -1])
def test_token_id_outside_the_vocabulary_is_refused_naming_it_and_the_vocabulary_size(model_class, bad_id):
    model = model_class(tiny_config())
    input_ids, attention_mask = batch()
    input_ids[1, 3] = bad_id
    message = rf"input_ids contains the id {bad_id}, outside .*vocab_size={VOCAB}.* model's own tokenizer"
    with pytest.raises(ValueError, match=message):
        model(input_ids, attention_mask)


def test_token_id_check_is_left_out_while_torch_compile_traces(monkeypatch):
    """A data-dependent check would break the compiled graph; the embedding lookup then fails by itself."""
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    input_ids, attention_mask = batch()
    input_ids[0, 0] = VOCAB
    with pytest.raises(IndexError):
        ConvBertModel(tiny_config())(input_ids, attention_mask)


@pytest.mark.parametrize("model_class", [ConvBertModel, ConvBertForMaskedLM, ConvBertForSequenceClassification])
def test_attention_mask_of_another_shape_is_refused_naming_both_shapes(model_class):
    model = model_class(tiny_config())
    input_ids, attention_mask = batch()
    with pytest.raises(ValueError, match=r"attention_mask has shape \(2, 19\) but input_ids has shape \(2, 20\)"):
        model(input_ids, attention_mask[:, :-1])
    with pytest.raises(ValueError, match=r"attention_mask has shape \(1, 20\) but inputs_embeds has shape \(2, 20\)"):
        model(inputs_embeds=model.get_input_embeddings()(input_ids), attention_mask=attention_mask[:1])


REMOTE_LOAD = """
from transformers import AutoModelForMaskedLM
import torch

folder, expected = sys.argv[1], torch.load(sys.argv[2])
model = AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True).eval()
assert "tlm_hf" not in sys.modules
logits = model(expected["input_ids"], expected["attention_mask"]).logits
torch.testing.assert_close(logits, expected["logits"], rtol=0, atol=0)
print(type(model).__module__)
"""


def test_saved_folder_loads_with_remote_code_where_tlm_hf_cannot_be_imported(tmp_path):
    model = randomize_batch_norm(ConvBertForMaskedLM(tiny_config())).eval()
    input_ids, attention_mask = batch()
    model.save_pretrained(tmp_path / "model")
    expected = dict(input_ids=input_ids, attention_mask=attention_mask, logits=model(input_ids, attention_mask).logits)
    torch.save(expected, tmp_path / "expected.pt")
    result = run_without_tlm_hf(REMOTE_LOAD, tmp_path / "model", tmp_path / "expected.pt", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "transformers_modules" in result.stdout


# --- the paper's own checkpoint layout -----------------------------------------------------------


class ReferenceConvolutionLayers(nn.Module):
    """The paper code's CL block layout (keys `layers.{3i}`, `layers.{3i+1}`, `conv.0`, `conv.1`)."""

    def __init__(self, num_layers, channels, kernel_size):
        super().__init__()
        self.layers = nn.ModuleList()
        for i in range(num_layers):
            self.layers.extend([
                nn.Conv2d(channels[i], channels[i + 1], kernel_size=kernel_size, padding="same"),
                nn.BatchNorm2d(channels[i + 1]),
                nn.GELU(),
            ])
        self.conv = nn.Sequential(nn.Conv2d(channels[-1], 1, kernel_size=1), nn.BatchNorm2d(1), nn.GELU())

    def forward(self, hidden_states, *args, **kwargs):
        images = hidden_states.unsqueeze(1)
        for layer in self.layers:
            images = layer(images)
        return self.conv(images).squeeze(1)


def build_reference(num_conv_layers, classifier=False):
    config = BertConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=1 + int(num_conv_layers > 0), num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=32, pad_token_id=0, num_labels=3,
    )
    model = (BertForSequenceClassification if classifier else BertForMaskedLM)(config)
    if num_conv_layers:
        model.bert.encoder.layer[0] = ReferenceConvolutionLayers(num_conv_layers, [1] + [4] * num_conv_layers, (4, 3))
    return randomize_batch_norm(model).eval()


@pytest.mark.parametrize("num_conv_layers", [0, 2])
@pytest.mark.parametrize("classifier", [False, True])
def test_converted_reference_checkpoint_gives_the_same_outputs(tmp_path, num_conv_layers, classifier):
    reference = build_reference(num_conv_layers, classifier)
    reference.save_pretrained(tmp_path / "reference")
    converted = convert_reference_checkpoint(tmp_path / "reference", tmp_path / "converted")
    assert isinstance(converted, ConvBertForSequenceClassification if classifier else ConvBertForMaskedLM)
    assert converted.config.num_conv_layers == num_conv_layers and converted.config.num_hidden_layers == 1
    # The paper's code pads every input to full length, so compare on unpadded sequences.
    input_ids = torch.randint(5, VOCAB, (2, 32), generator=torch.Generator().manual_seed(0))
    reloaded = AutoModelForSequenceClassification if classifier else AutoModelForMaskedLM
    reloaded = reloaded.from_pretrained(tmp_path / "converted").eval()
    with torch.no_grad():
        expected = reference(input_ids).logits
        torch.testing.assert_close(reloaded(input_ids).logits, expected, rtol=1e-5, atol=1e-5)


def test_convert_reference_command_writes_a_loadable_folder(tmp_path, capsys):
    build_reference(2).save_pretrained(tmp_path / "reference")
    assert tlm_main(["convert-reference", str(tmp_path / "reference"), str(tmp_path / "out")]) == 0
    assert "ConvBertForMaskedLM" in capsys.readouterr().out
    assert AutoModelForMaskedLM.from_pretrained(tmp_path / "out").config.conv_kernel_size == [4, 3]


def test_convert_reference_command_reports_a_missing_folder_in_one_line(tmp_path, capsys):
    assert tlm_main(["convert-reference", str(tmp_path / "nothing"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "No config.json" in err and "Traceback" not in err
