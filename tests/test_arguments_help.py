"""The command line a newcomer meets: the recipe carried from a pre-trained folder, help, did-you-mean, old names."""

import json

import pytest

from tlm_hf.arguments import parse_settings
from tlm_hf.settings import FINETUNE_SETTINGS


def pretrained_folder(tmp_path, recipe):
    folder = tmp_path / f"pt-{recipe}"
    folder.mkdir()
    (folder / "run_config.json").write_text(json.dumps({"settings": {"recipe": recipe}, "training": {}}))
    return str(folder)


def test_fine_tuning_from_a_pretrained_folder_defaults_to_its_recipe_and_says_so(tmp_path, capsys):
    folder = pretrained_folder(tmp_path, "fast")
    settings, *_, args = parse_settings(FINETUNE_SETTINGS, ["--pretrained", folder], stage="finetuning")
    assert settings.recipe == "fast" and (args.learning_rate, args.num_train_epochs) == (1e-3, 10)
    assert f"recipe fast: the recipe {folder} was pre-trained with (give --recipe to choose another)" in capsys.readouterr().out


def test_an_explicit_recipe_wins_over_the_pretrained_folders(tmp_path, capsys):
    folder = pretrained_folder(tmp_path, "fast")
    settings, *_, args = parse_settings(FINETUNE_SETTINGS, ["--pretrained", folder, "--recipe", "paper"],
                                        stage="finetuning")
    assert settings.recipe == "paper" and args.learning_rate == 5e-5
    assert "pre-trained with" not in capsys.readouterr().out


def test_a_folder_without_a_recorded_recipe_fine_tunes_with_the_paper_recipe(tmp_path):
    settings, *_, args = parse_settings(FINETUNE_SETTINGS, ["--pretrained", str(tmp_path)], stage="finetuning")
    assert settings.recipe == "paper" and args.learning_rate == 5e-5
