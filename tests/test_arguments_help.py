"""The command line a newcomer meets: the recipe carried from a pre-trained folder, help, did-you-mean, old names."""

import json

import pytest

from tlm_hf.arguments import parse_settings, recipe_folders
from tlm_hf.settings import COMMITTEE_SETTINGS, FINETUNE_SETTINGS, SettingsError
from tlm_hf.training.choices import recipe_choice


def pretrained_folder(tmp_path, recipe):
    folder = tmp_path / f"pt-{recipe}"
    folder.mkdir()
    (folder / "run_config.json").write_text(json.dumps({"settings": {"recipe": recipe}, "training": {}}))
    return str(folder)


def recipe_line(argv) -> str:
    settings, *_, args = parse_settings(FINETUNE_SETTINGS, argv, stage="finetuning")
    return recipe_choice(settings.recipe, folders=recipe_folders(argv), args=args)


def test_fine_tuning_from_a_pretrained_folder_defaults_to_its_recipe_and_says_so(tmp_path):
    folder = pretrained_folder(tmp_path, "fast")
    settings, *_, args = parse_settings(FINETUNE_SETTINGS, ["--pretrained", folder], stage="finetuning")
    assert settings.recipe == "fast" and (args.learning_rate, args.num_train_epochs) == (1e-3, 10)
    assert recipe_line(["--pretrained", folder]) == (
        f"recipe fast (the recipe {folder} was pre-trained with; --recipe chooses another): "
        "fine-tuning lr 0.001, 10 epochs, batch 32")


def test_an_explicit_recipe_wins_over_the_pretrained_folders_and_the_line_says_what_the_folder_had(tmp_path):
    folder = pretrained_folder(tmp_path, "fast")
    settings, *_, args = parse_settings(FINETUNE_SETTINGS, ["--pretrained", folder, "--recipe", "paper"],
                                        stage="finetuning")
    assert settings.recipe == "paper" and args.learning_rate == 5e-5
    assert recipe_line(["--pretrained", folder, "--recipe", "paper"]).startswith(
        f"recipe paper (given; {folder} was pre-trained with fast): fine-tuning lr 5e-05, 50 epochs")


def test_a_folder_without_a_recorded_recipe_fine_tunes_with_the_paper_recipe_by_default(tmp_path):
    settings, *_, args = parse_settings(FINETUNE_SETTINGS, ["--pretrained", str(tmp_path)], stage="finetuning")
    assert settings.recipe == "paper" and args.learning_rate == 5e-5
    assert recipe_line(["--pretrained", str(tmp_path)]).startswith(
        "recipe paper (the default; --recipe fast is the quicker one)")


def test_committee_members_pre_trained_with_different_recipes_are_refused_in_one_line(tmp_path):
    members = [pretrained_folder(tmp_path, "fast"), pretrained_folder(tmp_path, "paper")]
    with pytest.raises(SettingsError, match=r"different recipes \(.*pt-fast fast, .*pt-paper paper\); give --recipe"):
        parse_settings(COMMITTEE_SETTINGS, ["--members", *members], stage="finetuning")
    settings, *_ = parse_settings(COMMITTEE_SETTINGS, ["--members", *members, "--recipe", "fast"], stage="finetuning")
    assert settings.recipe == "fast"


# --- help that helps ---------------------------------------------------------------------------------------------


def help_screen(capsys, name, *flags):
    from training_helpers import run_script

    with pytest.raises(SystemExit) as exit_:
        run_script(name, {}, *flags)
    assert exit_.value.code == 0
    return capsys.readouterr().out


def option_lines(screen):
    return [line for line in screen.splitlines() if line.lstrip().startswith("--")]


def test_pretrain_help_fits_a_screen_grouped_with_a_help_text_and_default_for_every_option(capsys):
    screen = help_screen(capsys, "pretrain.py", "--help")
    assert len(screen.splitlines()) <= 120
    assert screen.startswith("usage: pretrain.py") and "MLM pre-training of a ConvBert" in screen  # its docstring
    for group in ("corpus (", "task (", "model (", "recipe (", "run:"):
        assert f"\n{group}" in screen, group
    for line in option_lines(screen):
        assert len(line.split(maxsplit=2)) == 3, f"no help text: {line}"  # option, metavar, help
    assert "--learning_rate X" in screen and "(default: 5.5e-05)" in screen  # the recipe's value
    assert "--gradient_accumulation_steps" not in screen


def test_help_all_adds_every_trainer_option(capsys):
    screen = help_screen(capsys, "finetune.py", "--help_all")
    assert "\nTrainer (every other TrainingArguments option)" in screen
    assert "--gradient_accumulation_steps N" in screen and "--learning_rate X" in screen


def test_every_setting_of_this_package_has_a_help_text():
    import dataclasses

    from tlm_hf import settings
    from tlm_hf.help import help_text

    for kind in {t for name in dir(settings) if name.endswith("_SETTINGS") for t in getattr(settings, name)}:
        if kind.__module__ == "tlm_hf.settings":
            missing = [f.name for f in dataclasses.fields(kind) if not help_text(f)]
            assert not missing, f"{kind.__name__}: {missing}"


def test_a_mistyped_option_gets_the_nearest_one():
    from tlm_hf.errors import SettingsError

    with pytest.raises(SettingsError, match=r"unknown option '--learnig_rate'; did you mean --learning_rate\?"):
        parse_settings(FINETUNE_SETTINGS, ["--learnig_rate", "1e-3"], stage="finetuning")


def test_tlm_subcommand_help_is_titled_with_the_subcommand_and_shows_booleans_plainly(capsys):
    from tlm_hf.cli import main

    with pytest.raises(SystemExit):
        main(["stats", "--help"])
    screen = capsys.readouterr().out
    assert screen.startswith("usage: tlm stats ") and "Token statistics" in screen
    assert "--json [true|false]" in screen and "print JSON instead of a table" in screen
