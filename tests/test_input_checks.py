"""Bad inputs are refused before a run claims its folder, in one line naming the setting, value and fix;
nothing is silently read another way (ranges, `none`, misspelled keys, file permissions)."""

import os

import pytest

from tlm_hf.errors import SettingsError
from tlm_hf.settings import parse_key_values
from tlm_hf.training.runs import write_json


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_results_files_get_the_permissions_of_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_json(tmp_path / "results.json", {"accuracy": 0.5})
    finally:
        os.umask(old)
    assert (tmp_path / "results.json").stat().st_mode & 0o777 == mode


def test_key_value_none_is_the_word_and_null_is_no_value():
    values = parse_key_values("report_to=none,classifier_dropout=null,seed=3", setting="pretrain_args", typed=True)
    assert values == {"report_to": "none", "classifier_dropout": None, "seed": 3}
