"""ConvBert options beyond the paper: mean pooling, pre-LayerNorm blocks, shared weights, factorised embeddings,
unpadded tokens, fast dropout.

Each option's defaults reproduce the paper's model (the reference conversion tests in test_modeling_conv_bert.py
check that bit for bit); here each option is checked for what it computes, how it saves and loads, and its errors.
"""

import pytest
from remote_code import run_without_tlm_hf
from safetensors import safe_open
from safetensors.torch import load_file
from test_byte_level import tiny_byte_config
from test_modeling_conv_bert import batch, randomize_batch_norm, tiny_config
import torch
from torch import nn
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, BertConfig, BertForMaskedLM

from tlm_hf import ConvBertConfig, ConvBertForMaskedLM, ConvBertForSequenceClassification, ConvBertModel
from tlm_hf.models import modeling_conv_bert

NO_CONV = dict(num_conv_layers=0, conv_channels=None, conv_kernel_size=None)

# Every option (and a combination), on the tiny test model with CLs (2 blocks, hidden size 32).
OPTIONS = {
    "mean-pooling": dict(classifier_pooling="mean"),
    "pre-norm": dict(norm_position="pre"),
    "share-ffn": dict(share_ffn=True),
    "share-blocks": dict(share_blocks=True),
    "embedding-size": dict(embedding_size=16),
    "combined": dict(classifier_pooling="mean", norm_position="pre", share_ffn=True, embedding_size=8),
}
HEADS = {"mlm": (ConvBertForMaskedLM, AutoModelForMaskedLM),
         "classifier": (ConvBertForSequenceClassification, AutoModelForSequenceClassification)}


# --- classifier_pooling ---------------------------------------------------------------------------


@pytest.mark.parametrize("conv", [NO_CONV, {}], ids=["no-CLs", "CLs"])
def test_mean_pooling_gives_the_same_logits_for_a_padded_and_an_unpadded_sequence(conv):
    model = randomize_batch_norm(ConvBertForSequenceClassification(tiny_config(classifier_pooling="mean", **conv)))
    input_ids, attention_mask = batch(lengths=(32, 9))
    padded = model(input_ids, attention_mask).logits[1]
    alone = model(input_ids[1:, :9], attention_mask[1:, :9]).logits[0]
    torch.testing.assert_close(padded, alone, rtol=1e-5, atol=1e-5)


def test_mean_pooling_feeds_the_mean_of_non_padding_states_to_the_pooler():
    model = ConvBertModel(tiny_config(classifier_pooling="mean")).eval()
    input_ids, attention_mask = batch(lengths=(20, 13))
    output = model(input_ids, attention_mask)
    means = torch.stack([output.last_hidden_state[0, :20].mean(0), output.last_hidden_state[1, :13].mean(0)])
    torch.testing.assert_close(output.pooler_output, torch.tanh(model.pooler.dense(means)))
    unmasked = model(input_ids)
    expected = torch.tanh(model.pooler.dense(unmasked.last_hidden_state.mean(1)))  # no mask: every position
    torch.testing.assert_close(unmasked.pooler_output, expected)


def test_cls_pooling_is_the_default_and_reads_the_first_state():
    model = ConvBertModel(tiny_config()).eval()
    assert model.config.classifier_pooling == "cls"
    output = model(*batch())
    torch.testing.assert_close(output.pooler_output, torch.tanh(model.pooler.dense(output.last_hidden_state[:, 0])))


# --- norm_position --------------------------------------------------------------------------------


def test_post_norm_model_keeps_bert_weight_names():
    config = tiny_config(**NO_CONV)
    bert = BertForMaskedLM(BertConfig(**{k: getattr(config, k) for k in (
        "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
        "max_position_embeddings")}))
    assert ConvBertForMaskedLM(config).state_dict().keys() == bert.state_dict().keys()


def test_pre_norm_block_adds_each_sublayer_of_its_normalised_input_then_one_final_norm():
    model = ConvBertModel(tiny_config(norm_position="pre", num_hidden_layers=1, **NO_CONV)).eval()
    input_ids, _ = batch(lengths=(12,))
    block = model.encoder.layer[0]
    x = model.embeddings(input_ids)
    attention, _ = block.attention.self(block.attention.LayerNorm(x))
    x = x + block.attention.output.dense(attention)
    x = x + block.output.dense(block.intermediate.intermediate_act_fn(
        block.intermediate.dense(block.intermediate.LayerNorm(x))))
    expected = model.encoder.LayerNorm(x)
    torch.testing.assert_close(model(input_ids).last_hidden_state, expected)


def test_pre_norm_has_two_norms_per_block_and_a_final_one_and_none_after_the_sums():
    model = ConvBertModel(tiny_config(norm_position="pre", num_hidden_layers=2))
    norms = sorted(name for name, _ in model.named_parameters() if "LayerNorm.weight" in name)
    assert norms == [
        "embeddings.LayerNorm.weight", "encoder.LayerNorm.weight",
        "encoder.layer.0.attention.LayerNorm.weight", "encoder.layer.0.intermediate.LayerNorm.weight",
        "encoder.layer.1.attention.LayerNorm.weight", "encoder.layer.1.intermediate.LayerNorm.weight",
    ]
    # Each block's two norms moved to its sublayers' inputs; one norm added after the last block.
    hidden = 32
    assert model.num_parameters() == ConvBertModel(tiny_config()).num_parameters() + 2 * hidden


def test_pre_norm_model_learns_a_batch_at_a_high_learning_rate():
    torch.manual_seed(0)
    model = ConvBertForMaskedLM(tiny_config(norm_position="pre", hidden_dropout_prob=0.0, **NO_CONV)).train()
    input_ids, attention_mask = batch(lengths=(32, 32, 32, 32), seed=4)
    labels = input_ids.clone()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.98))
    losses = []
    for _ in range(40):
        loss = model(input_ids, attention_mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < 0.6 * losses[0]


# --- share_ffn, share_blocks, embedding_size -----------------------------------------------------

# The sublayers each sharing option shares, named by a layer that every block runs.
SHARED = {"share-ffn": ["intermediate.dense"], "share-blocks": ["intermediate.dense", "attention.self.query"]}


def weights_run_by(model, layer_name: str) -> list[torch.Tensor]:
    """The weight of every `layer_name` layer that one forward pass runs, in order (one entry per run)."""
    seen = []
    hooks = [
        module.register_forward_hook(lambda module, args, output: seen.append(module.weight))
        for name, module in model.named_modules() if name.endswith(layer_name)
    ]
    with torch.no_grad():
        model(*batch())
    for hook in hooks:
        hook.remove()
    return seen


def assert_every_block_runs_one_tensor(model, option):
    for layer_name in SHARED[option]:
        weights = weights_run_by(model, layer_name)
        assert len(weights) == model.config.num_hidden_layers
        assert len({weight.data_ptr() for weight in weights}) == 1, layer_name


@pytest.mark.parametrize("option", list(SHARED))
def test_every_block_runs_the_one_shared_tensor_also_after_an_optimizer_step(option):
    model = ConvBertForMaskedLM(tiny_config(**OPTIONS[option]))
    assert_every_block_runs_one_tensor(model, option)
    before = weights_run_by(model, "intermediate.dense")[0].detach().clone()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    input_ids, attention_mask = batch()
    model(input_ids, attention_mask, labels=input_ids).loss.backward()
    optimizer.step()
    assert_every_block_runs_one_tensor(model, option)
    assert not torch.equal(weights_run_by(model, "intermediate.dense")[0], before)


def test_share_ffn_keeps_attention_per_block():
    queries = weights_run_by(ConvBertForMaskedLM(tiny_config(share_ffn=True)), "attention.self.query")
    assert len({weight.data_ptr() for weight in queries}) == 2


@pytest.mark.parametrize("option", list(SHARED))
def test_checkpoint_stores_shared_weights_once_and_reloads_them_shared(tmp_path, option):
    model = randomize_batch_norm(ConvBertForMaskedLM(tiny_config(**OPTIONS[option])))
    model.save_pretrained(tmp_path)
    with safe_open(tmp_path / "model.safetensors", "pt") as checkpoint:
        stored = {key: checkpoint.get_slice(key).get_shape() for key in checkpoint.keys()}
    for layer_name in SHARED[option]:
        assert len([key for key in stored if key.endswith(f"{layer_name}.weight")]) == 1
    # Every parameter once (the decoder tied to the embeddings is not stored), plus the CLs' BatchNorm buffers.
    stored_numbers = sum(torch.Size(shape).numel() for shape in stored.values())
    assert stored_numbers == model.num_parameters() + sum(buffer.numel() for buffer in model.buffers())
    reloaded, info = ConvBertForMaskedLM.from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info.values())
    assert_every_block_runs_one_tensor(reloaded.eval(), option)
    torch.testing.assert_close(reloaded(*batch()).logits, model(*batch()).logits, rtol=0, atol=0)


@pytest.mark.parametrize("input_config", [tiny_config, lambda: tiny_config(embedding_size=16), tiny_byte_config],
                         ids=["tokens", "factorised", "bytes"])
def test_resuming_from_a_checkpoint_misses_only_the_tied_weights_which_trainer_reties(tmp_path, input_config):
    model = ConvBertForMaskedLM(input_config())
    model.save_pretrained(tmp_path)
    resumed = ConvBertForMaskedLM(input_config())
    # What Trainer does on resume_from_checkpoint: load_state_dict(strict=False), then it re-ties the weights
    # silently when the missing keys are exactly _keys_to_ignore_on_save, and warns otherwise.
    result = resumed.load_state_dict(load_file(tmp_path / "model.safetensors"), strict=False)
    assert set(result.missing_keys) == resumed._keys_to_ignore_on_save != set()
    resumed.tie_weights()
    for tied, source in resumed._tied_weights_keys.items():
        assert resumed.get_parameter(tied) is resumed.get_parameter(source)
        torch.testing.assert_close(resumed.get_parameter(tied), model.get_parameter(source), rtol=0, atol=0)


def test_factorised_embedding_projects_narrow_token_vectors_and_decodes_through_the_tied_table():
    model = ConvBertForMaskedLM(tiny_config(embedding_size=16)).eval()
    embeddings, head = model.bert.embeddings, model.cls.predictions
    assert embeddings.word_embeddings.weight.shape == (120, 16)
    assert head.decoder.weight is embeddings.word_embeddings.weight
    assert (embeddings.word_projection.in_features, embeddings.word_projection.out_features) == (16, 32)
    assert (head.transform.dense.in_features, head.transform.dense.out_features) == (32, 16)
    input_ids, attention_mask = batch()
    hidden_states = model.bert(input_ids, attention_mask).last_hidden_state
    expected = head.transform(hidden_states) @ embeddings.word_embeddings.weight.T + head.bias
    torch.testing.assert_close(model(input_ids, attention_mask).logits, expected)


@pytest.mark.parametrize("option", list(OPTIONS))
def test_gradient_checkpointing_gives_the_same_gradients_and_hidden_states_cover_every_block_run(option):
    config = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **OPTIONS[option])
    input_ids, attention_mask = batch()
    gradients = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = ConvBertForMaskedLM(config).train()
        if checkpointing:
            model.gradient_checkpointing_enable()
        output = model(input_ids, attention_mask, labels=input_ids, output_hidden_states=True)
        output.loss.backward()
        gradients.append({name: p.grad for name, p in model.named_parameters()})
        assert len(output.hidden_states) == config.num_hidden_layers + 1
    assert gradients[0].keys() == gradients[1].keys()
    for name, gradient in gradients[0].items():
        torch.testing.assert_close(gradients[1][name], gradient, msg=name)



# --- unpad_tokens ---------------------------------------------------------------------------------


def unpadded_twin(model):
    """The same weights with `unpad_tokens` on."""
    twin = type(model)(type(model.config)(**{**model.config.to_dict(), "unpad_tokens": True}))
    twin.load_state_dict(model.state_dict())
    twin.set_attn_implementation(model.config._attn_implementation)
    return twin.train(model.training)


UNPAD_CONFIGS = {
    "paper": tiny_config,
    **{option: (lambda overrides=overrides: tiny_config(**overrides)) for option, overrides in OPTIONS.items()},
    "sparse-prediction": lambda: tiny_config(sparse_prediction=True),
    "bytes": lambda: tiny_byte_config(classifier_pooling="mean"),
}


def unpad_inputs(config, head):
    """A padded batch (rows of 20 and 9 tokens) and labels for `head`: five labelled tokens for the MLM."""
    if config.input_mode == "bytes":
        from test_byte_level import byte_batch

        inputs = byte_batch((20, 9))
    else:
        input_ids, attention_mask = batch(lengths=(20, 9))
        inputs = dict(input_ids=input_ids, attention_mask=attention_mask)
    if head == "classifier":
        return inputs, torch.tensor([0, 1])
    targets = inputs.get("input_bytes", inputs["input_ids"])
    labels = torch.full_like(targets, -100)
    for row, positions in enumerate(([1, 4, 7], [0, 5])):
        labels[row, positions] = targets[row, positions]
    return inputs, labels


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
@pytest.mark.parametrize("config", list(UNPAD_CONFIGS))
@pytest.mark.parametrize("head", list(HEADS))
def test_unpadded_tokens_give_the_padded_run_s_outputs_loss_and_gradients(monkeypatch, head, config, attention):
    monkeypatch.setattr(modeling_conv_bert, "TOKEN_BUCKET", 8)  # 29 real tokens in 32 rows, of 40 positions
    padded = HEADS[head][0](UNPAD_CONFIGS[config]())
    padded = (randomize_batch_norm(padded) if padded.config.num_conv_layers else padded).eval()
    padded.set_attn_implementation(attention)
    unpadded = unpadded_twin(padded)
    inputs, labels = unpad_inputs(padded.config, head)
    outputs = [model(**inputs, labels=labels) for model in (padded, unpadded)]
    for output in outputs:
        output.loss.backward()
    real = inputs["attention_mask"].bool()
    per_position = head == "mlm" and not padded.config.sparse_prediction  # logits at padding positions differ
    logits = [output.logits[real] if per_position else output.logits for output in outputs]
    torch.testing.assert_close(logits[1], logits[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(outputs[1].loss, outputs[0].loss, rtol=1e-5, atol=1e-6)
    gradients = dict(padded.named_parameters())
    for name, parameter in unpadded.named_parameters():
        torch.testing.assert_close(parameter.grad, gradients[name].grad, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("bucket, rows", [(1, 29), (8, 32), (64, 40)])
def test_unpadding_runs_the_real_tokens_and_padding_up_to_the_bucket_through_the_feed_forward_layers(
    monkeypatch, bucket, rows
):
    monkeypatch.setattr(modeling_conv_bert, "TOKEN_BUCKET", bucket)
    model = unpadded_twin(ConvBertModel(tiny_config()).eval())
    shapes = []
    model.encoder.layer[0].intermediate.dense.register_forward_hook(lambda module, args, out: shapes.append(args[0].shape))
    input_ids, attention_mask = batch(lengths=(20, 9))
    model(input_ids, attention_mask)  # 29 real tokens of 40 positions: up to a multiple of the bucket, at most 40
    model(input_ids[:1], attention_mask[:1])  # no padding: nothing to remove
    assert shapes == [(rows, 32), (1, 20, 32)]


def test_unpadding_gives_zero_states_at_padding_and_padded_states_when_hidden_states_are_asked_for(monkeypatch):
    monkeypatch.setattr(modeling_conv_bert, "TOKEN_BUCKET", 1)
    padded = randomize_batch_norm(ConvBertModel(tiny_config())).eval()
    unpadded = unpadded_twin(padded)
    input_ids, attention_mask = batch(lengths=(20, 9))
    states = unpadded(input_ids, attention_mask).last_hidden_state
    assert states[1, 9:].eq(0).all()
    torch.testing.assert_close(states[1, :9], padded(input_ids, attention_mask).last_hidden_state[1, :9])
    recorded = unpadded(input_ids, attention_mask, output_hidden_states=True)
    expected = padded(input_ids, attention_mask, output_hidden_states=True)
    assert [h.shape for h in recorded.hidden_states] == [h.shape for h in expected.hidden_states]
    torch.testing.assert_close(recorded.last_hidden_state, expected.last_hidden_state)


def test_unpadding_trains_with_gradient_checkpointing_and_dropout():
    torch.manual_seed(0)
    model = unpadded_twin(ConvBertForSequenceClassification(tiny_config()).train())
    model.gradient_checkpointing_enable()
    input_ids, attention_mask = batch(lengths=(20, 9))
    model(input_ids, attention_mask, labels=torch.tensor([0, 1])).loss.backward()
    assert all(parameter.grad is not None for parameter in model.parameters())



# --- fast_dropout ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fast_dropout_drops_a_p_share_and_scales_the_rest_by_the_inverse_of_the_kept_share(dtype):
    torch.manual_seed(0)
    dropped = modeling_conv_bert.apply_dropout(torch.ones(1_000_000, dtype=dtype), 0.1, training=True, fast=True)
    kept = dropped != 0
    assert abs(1 - kept.float().mean().item() - 0.1) < 0.002
    scale = torch.tensor(65536 / (65536 - 6554), dtype=dtype)  # p = 0.1 rounded to 6554 / 65536
    assert dropped[kept].eq(scale).all()


def test_fast_dropout_is_reproducible_under_a_seed_and_its_gradient_uses_the_same_mask():
    inputs = torch.randn(64, 48, requires_grad=True)
    outputs = []
    for _ in range(2):
        torch.manual_seed(3)
        outputs.append(modeling_conv_bert.apply_dropout(inputs, 0.25, training=True, fast=True))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)
    outputs[0].sum().backward()
    torch.testing.assert_close(inputs.grad, (outputs[0] != 0) * (65536 / (65536 - 16384)))


def test_without_fast_dropout_the_masks_are_torch_s_and_in_eval_mode_nothing_is_dropped():
    inputs = torch.randn(64, 48)
    torch.manual_seed(3)
    ours = modeling_conv_bert.apply_dropout(inputs, 0.25, training=True, fast=False)
    torch.manual_seed(3)
    torch.testing.assert_close(ours, nn.functional.dropout(inputs, 0.25, training=True), rtol=0, atol=0)
    assert modeling_conv_bert.apply_dropout(inputs, 0.25, training=False, fast=True) is inputs


@pytest.mark.parametrize("config", [tiny_config, tiny_byte_config], ids=["tokens", "bytes"])
def test_fast_dropout_reaches_every_dropout_of_a_training_classifier(monkeypatch, config):
    model = ConvBertForSequenceClassification(config(fast_dropout=True, num_labels=2)).train()
    model.set_attn_implementation("eager")
    inputs = unpad_inputs(model.config, "classifier")[0]
    torch_dropout, calls = nn.functional.dropout, []
    monkeypatch.setattr(nn.functional, "dropout", lambda *args, **kwargs: calls.append(1) or torch_dropout(*args, **kwargs))
    model(**inputs).logits.sum().backward()
    assert calls == []
    model.config.fast_dropout = False
    model(**inputs)
    assert calls  # the same model without the option draws torch's masks


# Tiny model without CLs: vocabulary V, hidden H, FFN width F, L blocks, P positions, T token types, embedding E.
V, H, F, L, P, T, E = 120, 32, 64, 2, 32, 2, 16
EMBEDDINGS = V * H + P * H + T * H + 2 * H  # tables + LayerNorm
ATTENTION = 4 * (H * H + H) + 2 * H  # query, key, value, output dense + LayerNorm
FFN = (H * F + F) + (F * H + H) + 2 * H  # two dense layers + LayerNorm
MLM_HEAD = (H * H + H) + 2 * H + V  # transform dense + LayerNorm + decoder bias (decoder weight tied)
TINY_PARAMETERS = {
    "paper": EMBEDDINGS + L * (ATTENTION + FFN) + MLM_HEAD,
    "pre-norm": EMBEDDINGS + L * (ATTENTION + FFN) + 2 * H + MLM_HEAD,  # + the final LayerNorm
    "share-ffn": EMBEDDINGS + L * ATTENTION + FFN + MLM_HEAD,
    "share-blocks": EMBEDDINGS + ATTENTION + FFN + MLM_HEAD,
    # E-wide table + projection to H; the head's transform ends at E.
    "embedding-size": (V * E + E * H + H + P * H + T * H + 2 * H) + L * (ATTENTION + FFN) + (H * E + E) + 2 * E + V,
}


@pytest.mark.parametrize("option", list(TINY_PARAMETERS))
def test_parameter_count_of_each_option_matches_the_hand_count(option):
    model = ConvBertForMaskedLM(tiny_config(**NO_CONV, **OPTIONS.get(option, {})))
    assert model.num_parameters() == TINY_PARAMETERS[option]


# Full size with the bert-base-uncased vocabulary. One 768-wide block: attention 4 * (768² + 768) + 2 * 768 =
# 2,363,904; FFN 2 * 768 * 3072 + 3072 + 768 + 2 * 768 = 4,723,968. embedding_size=128 saves 19,435,008 in the
# embedding (30522 * 768 -> 30522 * 128 + 128 * 768 + 768) and 493,440 in the MLM transform (768 -> 128 wide).
FULL_SIZE_PARAMETERS = {
    ("bert-1-h12", "paper"): 31_252_794,
    ("bert-1-h12", "mean-pooling"): 31_252_794,
    ("bert-1-h12", "pre-norm"): 31_252_794 + 2 * 768,
    ("bert-1-h12", "embedding-size"): 31_252_794 - 19_435_008 - 493_440,
    ("bert-6", "paper"): 66_692_154,
    ("bert-6", "share-blocks"): 66_692_154 - 5 * (2_363_904 + 4_723_968),
    ("bert-6", "share-ffn"): 66_692_154 - 5 * 4_723_968,
    ("bert-6", "embedding-size"): 66_692_154 - 19_435_008 - 493_440,
}
FULL_SIZE_OPTIONS = {"embedding-size": dict(embedding_size=128)}


@pytest.mark.parametrize("preset, option", list(FULL_SIZE_PARAMETERS))
def test_full_size_parameter_counts(preset, option):
    overrides = FULL_SIZE_OPTIONS.get(option, OPTIONS.get(option, {}))
    with torch.device("meta"):
        model = ConvBertForMaskedLM(ConvBertConfig.from_preset(preset, vocab_size=30522, **overrides))
    assert model.num_parameters() == FULL_SIZE_PARAMETERS[preset, option]


# --- every option: Auto classes and remote code -------------------------------------------------


def save_option_models(folder, option):
    """The MLM and the classifier of one option, saved under `folder`, with their logits on `batch()`."""
    input_ids, attention_mask = batch()
    expected = dict(input_ids=input_ids, attention_mask=attention_mask)
    for head, (model_class, _) in HEADS.items():
        torch.manual_seed(0)
        model = randomize_batch_norm(model_class(tiny_config(**OPTIONS[option])))
        model.save_pretrained(folder / head)
        with torch.no_grad():
            expected[head] = model(input_ids, attention_mask).logits
    return expected


@pytest.mark.parametrize("option", list(OPTIONS))
def test_option_round_trips_through_the_auto_classes(tmp_path, option):
    expected = save_option_models(tmp_path, option)
    for head, (model_class, auto_class) in HEADS.items():
        reloaded = auto_class.from_pretrained(tmp_path / head).eval()
        assert type(reloaded) is model_class
        assert all(reloaded.config.to_dict()[key] == value for key, value in OPTIONS[option].items())
        with torch.no_grad():
            logits = reloaded(expected["input_ids"], expected["attention_mask"]).logits
        torch.testing.assert_close(logits, expected[head], rtol=0, atol=0)


REMOTE_LOAD = """
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification
import torch

auto_classes = dict(mlm=AutoModelForMaskedLM, classifier=AutoModelForSequenceClassification)
for folder, expected in zip(sys.argv[1::2], sys.argv[2::2]):
    expected = torch.load(expected)
    for head, auto_class in auto_classes.items():
        model = auto_class.from_pretrained(f"{folder}/{head}", trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        with torch.no_grad():
            logits = model(expected["input_ids"], expected["attention_mask"]).logits
        torch.testing.assert_close(logits, expected[head], rtol=0, atol=0)
assert "tlm_hf" not in sys.modules
print("loaded", len(sys.argv[1::2]))
"""


def test_every_option_loads_with_remote_code_where_tlm_hf_cannot_be_imported(tmp_path):
    arguments = []
    for option in OPTIONS:
        torch.save(save_option_models(tmp_path / option, option), tmp_path / f"{option}.pt")
        arguments += [tmp_path / option, tmp_path / f"{option}.pt"]
    result = run_without_tlm_hf(REMOTE_LOAD, *arguments, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"loaded {len(OPTIONS)}" in result.stdout


# --- configuration errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(classifier_pooling="max"), "classifier_pooling must be 'cls' .* or 'mean'"),
        (dict(norm_position="sandwich"), "norm_position must be 'post' .* or 'pre'"),
        (dict(share_ffn=True, share_blocks=True), "share_ffn=True adds nothing to share_blocks=True"),
        (dict(share_ffn=True, num_hidden_layers=1), "share_ffn=True has no effect with num_hidden_layers=1"),
        (dict(share_blocks=True, num_hidden_layers=1), "share_blocks=True has no effect with num_hidden_layers=1"),
        (dict(embedding_size=32), "embedding_size must be between 1 and hidden_size - 1 .31.* got 32"),
        (dict(embedding_size=0), "embedding_size must be between"),
        (dict(embedding_size=8, input_mode="bytes"), "embedding_size factorises token embeddings"),
    ],
)
def test_invalid_option_fails_at_construction_naming_the_field(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**overrides)


# --- speed switches are run settings -----------------------------------------------------------------------------


def test_a_run_with_the_speed_switches_on_saves_a_config_without_them_and_loads_to_the_same_logits(tmp_path):
    """unpad_tokens and fast_dropout act in the run and are recorded in its run_config.json, not in the config.json
    that goes to the Hub; the saved model gives the same logits with them off as with them on."""
    import json

    from model_helpers import padded_batch
    from training_helpers import run_script, tiny_files

    files = {key: value for key, value in tiny_files(tmp_path).items() if key != "corpus"}
    settings = {**files, "scratch": True, "num_train_epochs": 1, "per_device_train_batch_size": 8,
                "unpad_tokens": True, "fast_dropout": True, "output_dir": str(tmp_path / "ft")}
    run_script("finetune.py", settings)
    saved = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert not {"unpad_tokens", "fast_dropout"} & set(saved)
    recorded = json.loads((tmp_path / "ft" / "run_config.json").read_text())["settings"]
    assert recorded["unpad_tokens"] is True and recorded["fast_dropout"] is True

    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "ft").eval()
    fast = ConvBertForSequenceClassification.from_pretrained(tmp_path / "ft", unpad_tokens=True).eval()
    assert (plain.config.unpad_tokens, fast.config.unpad_tokens) == (False, True)
    input_ids, attention_mask = padded_batch(plain.config.vocab_size, (7, 3), 0)
    with torch.no_grad():
        torch.testing.assert_close(fast(input_ids, attention_mask=attention_mask).logits,
                                   plain(input_ids, attention_mask=attention_mask).logits)


def test_config_overrides_still_take_the_speed_switches_as_before_the_run_settings(tmp_path):
    from data_helpers import make_tokenizer

    from tlm_hf.settings import ModelSettings

    config = ModelSettings(preset="bert-1-h24", config_overrides="unpad_tokens=true").config(
        make_tokenizer(tmp_path / "t"))
    assert config.unpad_tokens is True and "unpad_tokens" not in config.to_dict()
