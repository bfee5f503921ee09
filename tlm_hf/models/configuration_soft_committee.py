"""Soft committee configuration: independently fine-tuned classifiers that vote by summing their raw logits.

This file is copied next to saved weights so that a committee loads with `trust_remote_code=True` where
`tlm_hf` is not installed: it imports only transformers and its sibling pipeline file.
"""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

# Importing the pipeline here also makes saving copy its file next to the config, so that the folder serves
# `pipeline(PIPELINE_TASK, model=folder, trust_remote_code=True)`.
from .pipeline_soft_committee import PIPELINE_TASK, SoftCommitteePipeline

AUTO_MAP = {
    "AutoConfig": "configuration_soft_committee.SoftCommitteeConfig",
    "AutoModelForSequenceClassification": "modeling_soft_committee.SoftCommitteeForSequenceClassification",
}
CUSTOM_PIPELINES = {
    PIPELINE_TASK: {
        "impl": f"pipeline_soft_committee.{SoftCommitteePipeline.__name__}",
        "pt": ["AutoModelForSequenceClassification"],
        "type": "text",
    }
}

# How a member was saved or trained, not what it computes: dropped from the stored member configs, so that two
# members of one architecture have equal configs (and run as one batched computation).
NOT_ARCHITECTURE = ("_name_or_path", "transformers_version", "architectures", "problem_type")

# Every member reads the same token ids and attention mask, and the committee adds logits label by label: these
# member settings must agree. A member whose config lacks one of them is not checked for it.
SHARED_SETTINGS = {
    "vocab_size": "vocabulary size (members must share the tokenizer)",
    "pad_token_id": "padding token id (members must share the tokenizer)",
    "max_position_embeddings": "maximum length",
    "input_mode": "input mode (all members read token ids, or all read token ids and bytes)",
    "max_token_bytes": "bytes per token (members must read the same input_bytes)",
}


def member_config_dict(config: PreTrainedConfig) -> dict:
    """A member's config as stored in the committee config."""
    return {key: value for key, value in config.to_dict().items() if key not in NOT_ARCHITECTURE}


def _label_map(member: dict) -> dict[int, str] | None:
    id2label = member.get("id2label")
    return None if id2label is None else {int(i): label for i, label in id2label.items()}


def check_members(members: list[dict], names: list[str] | None = None):
    """Refuse members that cannot vote together, naming the first member that differs from member 0 and how."""
    names = names or [f"member {i}" for i in range(len(members))]
    if not members:
        raise ValueError("A soft committee needs at least one member.")
    for name, member in zip(names, members):
        if "model_type" not in member:
            raise ValueError(f"{name} has no model_type: store members with member_config_dict(model.config).")
    first, first_labels = members[0], _label_map(members[0])
    for name, member in zip(names[1:], members[1:]):
        labels = _label_map(member)
        if labels != first_labels:
            raise ValueError(
                f"{name} has labels {labels} but {names[0]} has {first_labels}: committee members must be "
                "fine-tuned with the same label mapping (same names at the same ids)."
            )
        for key, meaning in SHARED_SETTINGS.items():
            if key in member and key in first and member[key] != first[key]:
                raise ValueError(f"{name} has {key}={member[key]} but {names[0]} has {first[key]}: {meaning}.")


@strict
class SoftCommitteeConfig(PreTrainedConfig):
    r"""
    A soft committee of sequence classifiers (the paper's Tables 8 and 9): every member reads the same input and
    the committee's logits are the sum of the members' raw logits, with no softmax or normalisation.

    `members` holds each member's full config as a dict (see `member_config_dict`); members are our ConvBert or
    any architecture built into transformers. The committee's labels are the members' (which must agree).

    `batch_identical_members`: at inference, members of one architecture run as one batched (`vmap`) computation;
    None (default) does so on a GPU only: on a CPU it measured slower than running them one by one (CPU SDPA has
    no batching rule, and batched convolution weights become grouped convolutions).
    `concurrent_members`: at inference, groups of members overlap, on threads (CPU) or CUDA streams (GPU).

    Example:

    ```python
    >>> from tlm_hf import SoftCommitteeForSequenceClassification
    >>> committee = SoftCommitteeForSequenceClassification.from_members(["runs/member-0", "runs/member-1"])
    >>> committee.save_pretrained("runs/committee")
    ```"""

    model_type = "tlm_soft_committee"

    members: list[dict] | None = None
    batch_identical_members: bool | None = None
    concurrent_members: bool = True

    def __post_init__(self, **kwargs):
        if self.members is not None:
            check_members(self.members)
            if self.id2label is None:
                self.id2label = _label_map(self.members[0])
            elif _label_map({"id2label": self.id2label}) != _label_map(self.members[0]):
                raise ValueError(f"SoftCommitteeConfig.id2label {self.id2label} differs from the members' labels.")
            if self.label2id is None and self.id2label is not None:
                self.label2id = {label: int(i) for i, label in self.id2label.items()}
        kwargs.setdefault("auto_map", dict(AUTO_MAP))
        kwargs.setdefault("custom_pipelines", dict(CUSTOM_PIPELINES))
        super().__post_init__(**kwargs)

    @property
    def max_position_embeddings(self) -> int | None:
        """The members' maximum length (None when their configs do not say)."""
        return next((m["max_position_embeddings"] for m in self.members or [] if "max_position_embeddings" in m), None)


SoftCommitteeConfig.register_for_auto_class()

__all__ = ["SoftCommitteeConfig", "check_members", "member_config_dict"]
