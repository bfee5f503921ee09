"""One error type for a user's mistake: scripts and `tlm` print a UserError as one line; anything else (a bug of
ours) reaches the user with its traceback."""

import pytest
from training_helpers import run_script

import tlm_hf.arguments
from tlm_hf.cli import main as tlm_main
from tlm_hf.data.samples import resolve_sample
from tlm_hf.errors import MissingFileError, SettingsError, UserError
from tlm_hf.hub.publish import PublishError

SCRIPTS = ["pretrain.py", "finetune.py", "committee.py", "experiment.py", "compare.py"]


def raising(error):
    def parse_settings(*args, **kwargs):
        raise error

    return parse_settings


def make_parse_settings_raise(monkeypatch, error):
    """parse_settings raises `error`, in the library and in the commands, which parse through it."""
    import tlm_hf.commands

    for module in (tlm_hf.arguments, tlm_hf.commands):
        monkeypatch.setattr(module, "parse_settings", raising(error))


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_value_error_inside_the_library_reaches_the_user_with_its_traceback(script, monkeypatch):
    make_parse_settings_raise(monkeypatch, ValueError("a bug of ours"))
    with pytest.raises(ValueError, match="a bug of ours"):  # not SystemExit: the traceback is printed
        run_script(script, {})


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_missing_file_the_user_named_ends_the_script_with_one_line(script, monkeypatch):
    make_parse_settings_raise(monkeypatch, MissingFileError("no file matches 'corpus.txt'; check the path or glob"))
    with pytest.raises(SystemExit, match=rf"^{script}: error: no file matches 'corpus.txt'; check the path or glob$"):
        run_script(script, {})


def test_tlm_prints_a_user_error_in_one_line_and_lets_a_bug_raise(monkeypatch, capsys):
    monkeypatch.setattr(tlm_hf.arguments, "parse_settings", raising(SettingsError("unknown setting 'x'; remove it")))
    assert tlm_main(["stats"]) == 2
    assert capsys.readouterr().err == "tlm stats: error: unknown setting 'x'; remove it\n"
    monkeypatch.setattr(tlm_hf.arguments, "parse_settings", raising(ValueError("a bug of ours")))
    with pytest.raises(ValueError, match="a bug of ours"):
        tlm_main(["stats"])


def test_every_user_error_type_is_one_base_and_keeps_its_builtin_meaning():
    assert issubclass(SettingsError, UserError) and issubclass(SettingsError, ValueError)
    assert issubclass(PublishError, UserError)
    with pytest.raises(UserError) as raised:
        resolve_sample("sample:nope")
    assert isinstance(raised.value, FileNotFoundError)  # callers that catch FileNotFoundError still do
