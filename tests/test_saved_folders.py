"""Folders saved by tlm-hf 0.1.0 (the flat package layout) still load, with and without tlm_hf, giving the
same logits as when they were saved.

The folders (a classifier and a committee, with the model code 0.1.0 copied beside their weights) are kept
as one archive, frozen as 0.1.0 wrote them.
"""

import tarfile
from pathlib import Path

import pytest
import torch
from remote_code import run_without_tlm_hf
from transformers import AutoModelForSequenceClassification

import tlm_hf  # noqa: F401  (registers the model types)

ARCHIVE = Path(__file__).parent / "fixtures" / "saved-0.1.0.tar.gz"


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("saved")
    with tarfile.open(ARCHIVE) as archive:
        archive.extractall(folder, filter="data")
    return folder / "saved-0.1.0"


@pytest.mark.parametrize("kind", ["classifier", "committee"])
def test_folder_saved_by_0_1_0_loads_through_tlm_hf_with_the_same_logits(kind, saved):
    expected = torch.load(saved / "expected.pt")
    model = AutoModelForSequenceClassification.from_pretrained(saved / kind).eval()
    with torch.no_grad():
        logits = model(**expected["inputs"]).logits
    torch.testing.assert_close(logits, expected[kind], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["classifier", "committee"])
def test_folder_saved_by_0_1_0_loads_with_remote_code_without_tlm_hf(kind, saved, tmp_path):
    done = run_without_tlm_hf(
        """
        import sys, torch
        from transformers import AutoModelForSequenceClassification
        folder, expected = sys.argv[1], torch.load(sys.argv[2])
        model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
        with torch.no_grad():
            logits = model(**expected["inputs"]).logits
        torch.testing.assert_close(logits, expected[sys.argv[3]], rtol=1e-5, atol=1e-5)
        assert "tlm_hf" not in sys.modules
        print("ok")
        """,
        saved / kind, saved / "expected.pt", kind, tmp_path=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")
