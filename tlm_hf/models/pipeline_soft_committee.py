"""The soft committee pipeline: per input, the committee's label and score and every member's, to show agreement.

Task name `soft-committee-classification`. `tlm_hf` registers it with the transformers pipeline registry; a saved
committee carries this file and a `custom_pipelines` entry, so that
`pipeline("soft-committee-classification", model=folder, trust_remote_code=True)` works without `tlm_hf`.
"""

import numpy as np
from transformers import TextClassificationPipeline

PIPELINE_TASK = "soft-committee-classification"


def _probabilities(logits) -> np.ndarray:
    """Softmax over the last axis."""
    logits = logits.float().numpy()
    scores = np.exp(logits - logits.max(-1, keepdims=True))
    return scores / scores.sum(-1, keepdims=True)


def _decision(logits, id2label) -> dict:
    """Label of the largest logit, and its softmax probability."""
    scores = _probabilities(logits)
    best = int(scores.argmax())
    return {"label": id2label[best], "score": float(scores[best])}


def committee_decision(logits, member_logits, id2label) -> dict:
    """The committee's label: the argmax of the summed logits, as in the paper. Its score: the mean of the members'
    probabilities for that label, a probability a user can read; the softmax of a sum of logits is far more
    confident than any member (0.9993 where the members say 0.76, 0.69 and 0.98)."""
    best = int(logits.float().argmax())
    return {"label": id2label[best], "score": float(_probabilities(member_logits)[:, best].mean())}


class SoftCommitteePipeline(TextClassificationPipeline):
    """Text classification with a soft committee, returning per input

    `{"label": ..., "score": ..., "members": [{"label": ..., "score": ...}, ...]}`:

    the committee's decision (argmax of the summed logits, with the mean of the members' probabilities for that
    label as score), then each member's own decision in member order. Texts are truncated to the members' maximum length; other call
    arguments go to the tokenizer.
    """

    def _sanitize_parameters(self, **tokenizer_kwargs):
        tokenizer_kwargs.setdefault("truncation", True)
        if self.model.config.max_position_embeddings is not None:
            tokenizer_kwargs.setdefault("max_length", self.model.config.max_position_embeddings)
        return tokenizer_kwargs, {}, {}

    def _forward(self, model_inputs):
        return self.model(**model_inputs, output_member_logits=True)

    def postprocess(self, model_outputs):
        id2label = self.model.config.id2label
        committee = committee_decision(model_outputs["logits"][0], model_outputs["member_logits"][0], id2label)
        members = [_decision(logits, id2label) for logits in model_outputs["member_logits"][0]]
        return {**committee, "members": members}


__all__ = ["PIPELINE_TASK", "SoftCommitteePipeline", "committee_decision"]
