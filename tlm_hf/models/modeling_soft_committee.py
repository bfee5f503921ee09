"""Soft committee: one `PreTrainedModel` that owns independently fine-tuned classifiers and sums their logits.

The paper's committee decision (Tables 8 and 9) is the argmax of the sum of the members' raw output logits, with
no softmax or normalisation. At inference, members of one architecture run as one batched computation
(`torch.func.stack_module_state` + `vmap`), and the remaining groups overlap on threads, each on its own CUDA stream
on a GPU. Training, or anything with gradients, runs the members one after another.

This file is copied next to saved weights with its siblings (the committee configuration and pipeline, the ConvBert
model files) so that a saved committee loads with `trust_remote_code=True` where `tlm_hf` is not installed.
"""

import copy
import inspect
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel
from transformers.models.auto.configuration_auto import CONFIG_MAPPING, CONFIG_MAPPING_NAMES
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from .configuration_conv_bert import ConvBertConfig
from .configuration_soft_committee import SoftCommitteeConfig, check_members, member_config_dict
from .modeling_conv_bert import ConvBertForSequenceClassification, NamesDamagedWeights


@dataclass
class SoftCommitteeOutput(ModelOutput):
    """
    loss: cross-entropy (or the members' problem type's loss) of the committee logits, when labels are given.
    logits: `(batch, num_labels)`, the sum of the members' raw logits.
    member_logits: `(batch, num_members, num_labels)`, each member's own logits, with `output_member_logits=True`.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    member_logits: torch.FloatTensor | None = None


def _member_class(model_type: str):
    """Our ConvBert through its sibling file (so that remote code needs no `tlm_hf`), else a built-in architecture."""
    if model_type == ConvBertConfig.model_type:
        return ConvBertForSequenceClassification
    if model_type in CONFIG_MAPPING_NAMES:
        return AutoModelForSequenceClassification
    raise ValueError(
        f"Soft committee members must be tlm ConvBert or an architecture built into transformers; model_type "
        f"{model_type!r} is neither (custom remote-code architectures cannot be rebuilt from the committee's config)."
    )


def build_member(member: dict) -> PreTrainedModel:
    """A freshly initialised member from its stored config."""
    if _member_class(member["model_type"]) is ConvBertForSequenceClassification:
        return ConvBertForSequenceClassification(ConvBertConfig.from_dict(member))
    return AutoModelForSequenceClassification.from_config(CONFIG_MAPPING[member["model_type"]].from_dict(member))


def _identical_groups(members: list[dict]) -> list[list[int]]:
    """Member indices grouped by equal config (same architecture and shapes), in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for index, member in enumerate(members):
        groups.setdefault(json.dumps(member, sort_keys=True), []).append(index)
    return list(groups.values())


# Files of which at least one is saved with a tokenizer: a folder without any of them has no tokenizer (and
# AutoTokenizer would make up an empty one from config.json, which then "differs" from every real one).
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model")


def _tokenizer_vocab(member: str) -> dict[str, int] | None:
    """The vocabulary of the tokenizer saved with a member folder or Hub repository, if it has one."""
    if os.path.isdir(member) and not any(os.path.isfile(os.path.join(member, n)) for n in _TOKENIZER_FILES):
        return None
    try:
        return AutoTokenizer.from_pretrained(member).get_vocab()
    except (OSError, ValueError, KeyError):
        return None


def _check_tokenizers(vocabularies: list[dict | None], names: list[str]):
    known = [(name, vocab) for name, vocab in zip(names, vocabularies) if vocab is not None]
    for name, vocab in known[1:]:
        first_name, first = known[0]
        if vocab != first:
            differ = sorted(set(vocab.items()) ^ set(first.items()))
            raise ValueError(
                f"{name}'s tokenizer differs from {first_name}'s ({len(differ)} token/id pairs differ, e.g. "
                f"{differ[0]}): committee members must share the tokenizer vocabulary."
            )


class SoftCommitteeForSequenceClassification(NamesDamagedWeights, PreTrainedModel):
    """Members in `members` (an `nn.ModuleList`); logits are the sum of their raw logits.

    Build one from fine-tuned classifiers with `from_members`; save and load it like any transformers model.
    """

    config_class = SoftCommitteeConfig
    config: SoftCommitteeConfig
    base_model_prefix = "committee"
    main_input_name = "input_ids"
    _supports_sdpa = True  # members choose their own attention; the committee has none

    def __init__(self, config: SoftCommitteeConfig):
        super().__init__(config)
        if not config.members:
            raise ValueError("SoftCommitteeConfig has no members: build a committee with from_members([...]).")
        self.members = nn.ModuleList(build_member(member) for member in config.members)
        self._groups = _identical_groups(config.members)
        self._stacked: dict[tuple[int, ...], tuple] = {}  # group -> (weights key, meta template, params, buffers)
        self.post_init()

    @classmethod
    def from_members(cls, members: list, **config_kwargs) -> "SoftCommitteeForSequenceClassification":
        """A committee of fine-tuned classifiers given as folders, Hub ids or models (adopted as they are, not copied).

        Refuses members that disagree with the first on the label mapping, the vocabulary (size, padding id, and the
        saved tokenizers of folder members) or the maximum length, naming the member and the difference. Returns
        the committee in eval mode.
        """
        models, names, vocabularies = [], [], []
        for index, member in enumerate(members):
            if isinstance(member, PreTrainedModel):
                _member_class(member.config.model_type)  # refuses architectures the config could not rebuild
                same = next((i for i, other in enumerate(members[:index]) if other is member), None)
                if same is not None:
                    raise ValueError(
                        f"member {index} is the same model object as member {same}: a committee adopts its members, "
                        "so give distinct models (copy.deepcopy(model), or load the folder again)."
                    )
                models.append(member)
                names.append(f"member {index} ({type(member).__name__})")
                vocabularies.append(None)
            else:
                try:
                    model_type = AutoConfig.from_pretrained(member).model_type
                    models.append(_member_class(model_type).from_pretrained(member))
                except ValueError:
                    raise  # already one line: an architecture a committee cannot hold
                except Exception as err:  # a missing or corrupt config.json or weights file (OSError, SafetensorError)
                    first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
                    raise ValueError(f"member {index} ({member}) does not load: {first_line}") from err
                names.append(f"member {index} ({member})")
                vocabularies.append(_tokenizer_vocab(member))
        member_configs = [member_config_dict(model.config) for model in models]
        check_members(member_configs, names)
        _check_tokenizers(vocabularies, names)
        with torch.device("meta"):  # no weights to initialise: the members come ready
            committee = cls(SoftCommitteeConfig(members=member_configs, **config_kwargs))
        committee.members = nn.ModuleList(models)
        return committee.eval()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_member_logits: bool = False,
        input_bytes: torch.Tensor | None = None,
    ) -> SoftCommitteeOutput:
        """Every member reads the same `input_ids` and `attention_mask` (and `input_bytes`, for byte-level members);
        logits are the sum of member logits."""
        if input_ids is None:
            raise ValueError("A soft committee needs input_ids (members have their own embeddings).")
        inputs = dict(attention_mask=attention_mask, token_type_ids=token_type_ids, position_ids=position_ids,
                      input_bytes=input_bytes)
        inputs = {name: tensor for name, tensor in inputs.items() if tensor is not None}
        member_logits = self._member_logits(input_ids, inputs)  # (members, batch, labels)
        logits = member_logits.sum(dim=0)
        loss = None if labels is None else self.loss_function(labels, logits, self.config)
        return SoftCommitteeOutput(
            loss=loss, logits=logits, member_logits=member_logits.transpose(0, 1) if output_member_logits else None
        )

    def _member_logits(self, input_ids, inputs) -> torch.Tensor:
        inference = not self.training and not torch.is_grad_enabled()
        batched = self.config.batch_identical_members
        batched = input_ids.device.type == "cuda" if batched is None else batched
        if inference and batched:
            groups = self._groups
        else:
            groups = [[index] for index in range(len(self.members))]
        if inference and self.config.concurrent_members and len(groups) > 1:
            outputs = self._run_concurrently(groups, input_ids, inputs)
        else:
            outputs = [self._run_group(group, input_ids, inputs) for group in groups]
        logits = [None] * len(self.members)
        for group, group_logits in zip(groups, outputs):
            for index, member_logits in zip(group, group_logits):
                logits[index] = member_logits
        return torch.stack(logits)

    def _run_group(self, group: list[int], input_ids, inputs) -> torch.Tensor:
        """Logits `(len(group), batch, labels)` of members of one architecture."""
        member = self.members[group[0]]
        accepted = inspect.signature(member.forward).parameters
        inputs = {name: tensor for name, tensor in inputs.items() if name in accepted}
        if len(group) == 1:
            return member(input_ids, **inputs).logits.unsqueeze(0)
        template, params, buffers = self._stacked_weights(group)

        def logits_of_one_member(params, buffers):
            return functional_call(template, (params, buffers), (input_ids,), inputs).logits

        return vmap(logits_of_one_member)(params, buffers)

    def _stacked_weights(self, group: list[int]) -> tuple:
        """The group's weights stacked along a new first dimension, rebuilt whenever a member's weights changed.

        The key (storage and version counter of every tensor) changes with in-place updates (optimizer steps,
        `load_state_dict`) and with moves to another device or dtype.
        """
        members = [self.members[index] for index in group]
        key = tuple((t.data_ptr(), t._version) for m in members for t in (*m.parameters(), *m.buffers()))
        cached = self._stacked.get(tuple(group))
        if cached is None or cached[0] != key:
            params, buffers = stack_module_state(members)
            template = copy.deepcopy(members[0]).to("meta")
            cached = self._stacked[tuple(group)] = (key, template, params, buffers)
        return cached[1:]

    def _run_concurrently(self, groups, input_ids, inputs) -> list[torch.Tensor]:
        """One thread per group (and on a GPU one CUDA stream per group); same operations as one after another.

        Grad, inference and autocast modes are thread-local, so each thread takes the caller's.
        """
        device = input_ids.device
        caller = torch.cuda.current_stream(device) if device.type == "cuda" and torch.cuda.is_available() else None
        streams = [torch.cuda.Stream(device) for _ in groups] if caller is not None else [None] * len(groups)
        for stream in streams:
            if stream is not None:
                stream.wait_stream(caller)  # the inputs were written on the caller's stream
        inference_mode = torch.is_inference_mode_enabled()
        autocast = dict(
            device_type=device.type, enabled=torch.is_autocast_enabled(device.type),
            dtype=torch.get_autocast_dtype(device.type),
        )

        def run(group, stream):
            with torch.inference_mode(inference_mode), torch.no_grad(), torch.autocast(**autocast):
                if stream is None:
                    return self._run_group(group, input_ids, inputs)
                with torch.cuda.stream(stream):
                    return self._run_group(group, input_ids, inputs)

        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            outputs = list(pool.map(run, groups, streams))
        for stream, output in zip(streams, outputs):
            if stream is not None:
                caller.wait_stream(stream)
                output.record_stream(caller)  # made on `stream`, used on the caller's: keep it alive there
        return outputs


__all__ = ["SoftCommitteeForSequenceClassification", "SoftCommitteeOutput", "build_member"]

# Saving copies this file and its siblings next to the weights and writes `auto_map`.
SoftCommitteeForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")
