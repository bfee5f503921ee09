"""Accuracy as an `evaluate` metric module kept in the package.

`evaluate.load("accuracy")` fetches a Space from the Hub and fails offline; this file is loaded by
its path instead (`tlm_hf.finetuning.load_accuracy`), which works without a network.
"""

import datasets
import evaluate

_DESCRIPTION = "Accuracy: the share of predictions equal to their reference label."
_KWARGS_DESCRIPTION = """
Args:
    predictions (list of int): predicted labels.
    references (list of int): true labels.
Returns:
    accuracy (float): correct / total, in [0, 1].
"""


class Accuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references):
        if len(references) == 0:
            raise ValueError("accuracy of no predictions is undefined; evaluate on a non-empty test set")
        correct = sum(int(p == r) for p, r in zip(predictions, references))
        return {"accuracy": correct / len(references)}
