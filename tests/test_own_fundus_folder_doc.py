"""docs/own_fundus_folder.md, the one-page guide for a folder of one's own photographs, says
what the export of its step 3 now does with the guide's own grey copy (review s56r3 F1): it
prints a FLAGGED line, writes a notes file and exits 4. Checked against the code's names, so
the guide follows when they change."""

from __future__ import annotations

from pathlib import Path

from drac_ssl.grading.image_notes import GREY_TRAINED_MIN, GREY_TRAINED_SHARE
from drac_ssl.runtime import EXIT_FLAGGED
from drac_ssl.submission import IMAGE_NOTES_COLUMNS, image_notes_path, referable_path

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "own_fundus_folder.md"


def _step(text: str, n: int) -> str:
    start = text.index(f"**{n}. ")
    end = text.find(f"**{n + 1}. ", start)
    return text[start:end if end >= 0 else None]


def test_step_3_names_every_file_the_export_writes_for_flagged_images_and_its_exit_code() -> None:
    step = _step(GUIDE.read_text(encoding="utf-8"), 3)
    out = Path("/tmp/ff_guide/grades.csv")
    assert f"--out {out}" in step
    for written in (out, referable_path(out), image_notes_path(out)):
        assert written.name in step, f"step 3 does not name {written.name}"
    flagged = [line for line in step.splitlines() if line.startswith("FLAGGED: ")]
    assert len(flagged) == 1, "step 3 quotes the export's FLAGGED line on a line of its own"
    assert f"per case in {image_notes_path(out)} ({','.join(IMAGE_NOTES_COLUMNS)})" in flagged[0]
    assert "1 a grey picture for a colour model" in flagged[0]
    assert f"exits with code {EXIT_FLAGGED}" in step
    assert f"at least {GREY_TRAINED_MIN} of its" in step and f"{GREY_TRAINED_SHARE:.0%}".replace("%", " %") in step


def test_step_5_says_its_output_varies_with_the_data() -> None:
    assert "vary with the data" in _step(GUIDE.read_text(encoding="utf-8"), 5)


def test_the_readmes_fundus_first_try_is_the_guides_step_2_with_the_users_paths_and_columns() -> None:
    """A first-day user with a fundus folder found the README's tiny first try written for DRAC
    only and spliced it into the fundus line by hand (F3a): the README now gives it, and it is
    the guide's command but for where the folder and the runs are and the CSV's column names."""
    from train_commands import guide_first_try, readme_fundus_first_try, settings

    readme, guide = readme_fundus_first_try(), guide_first_try()
    (config, ours), (guide_config, theirs) = settings(readme), settings(guide)
    assert readme[:3] == guide[:3] == [".venv/bin/python", "-m", "drac_ssl.train"] and config == guide_config
    assert ours.pop("data.root") == "my_photos/" and theirs.pop("data.root") == "/tmp/ff_guide/photos"
    assert theirs.pop("run.out_dir") == "/tmp/ff_guide/runs" and "run.out_dir" not in ours
    assert {ours.pop("data.image_column"), ours.pop("data.grade_column")} == {"Photo", "ICDR"}
    assert list(ours.items()) == list(theirs.items())  # the same settings, in the same order
    assert [w for w in readme if w.startswith("--")] == [w for w in guide if w.startswith("--")] == ["--first-try"]


def test_the_guides_first_try_runs_the_first_try_settings_on_the_fundus_config() -> None:
    """F5: the guide's step 2 gives ``--first-try`` instead of the 13 overrides pasted before;
    parsed as the command parses it, it runs configs/fundus.yaml with exactly those settings
    (drac_ssl.trial_run.FIRST_TRY) and its own paths, and says in one sentence what it sets."""
    from train_commands import guide_first_try, resolved, settings

    from drac_ssl.config import load_config, to_dict
    from drac_ssl.trial_run import FIRST_TRY

    guide = guide_first_try()
    config, own = settings(guide)
    assert config == "configs/fundus.yaml"
    expected = to_dict(load_config(GUIDE.parents[1] / config, [*FIRST_TRY, *(f"{k}={v}" for k, v in own.items())]))
    assert resolved(guide) == expected
    assert expected["pretrain"]["max_steps_per_epoch"] == 3 and expected["data"]["n_folds"] == 2  # the preset's
    assert not any(w.split("=", 1)[0] in {s.split("=", 1)[0] for s in FIRST_TRY} for w in guide if "=" in w)
    step = _step(GUIDE.read_text(encoding="utf-8"), 2)
    assert "`--first-try`, which sets a 128 px cache, 2 folds, 64 px images" in " ".join(step.split())


def test_the_readme_names_the_column_settings_and_their_defaults_as_the_code_has_them() -> None:
    """F3b: "a label CSV with columns `file`, `grade`" read as a required naming; the defaults
    are DataConfig's."""
    from drac_ssl.config import DataConfig

    quick = (GUIDE.parents[1] / "README.md").read_text(encoding="utf-8").split(
        '<a id="quick-start-on-your-data"></a>', 1)[1].split('<a id="how-long"></a>', 1)[0]
    assert "data.image_column / data.grade_column: your CSV's columns" in quick
    assert f"the defaults `{DataConfig().image_column}`, `{DataConfig().grade_column}`" in quick
    assert "columns `file`, `grade`" not in quick
    assert quick.index("docs/own_fundus_folder.md") < quick.index("```bash")


def test_the_readmes_fundus_first_try_says_to_drop_the_crop_for_square_photographs() -> None:
    """A review: the README's first try gives data.fundus_crop=true with no word of when to leave
    it out; on photographs already square to the disc it printed 30 fundus-surround warnings.
    The block's comments say it, as the full fundus command's comment below does."""
    from train_commands import readme_fundus_first_try, resolved

    assert "data.fundus_crop=true" in readme_fundus_first_try()
    quick = (GUIDE.parents[1] / "README.md").read_text(encoding="utf-8").split(
        '<a id="quick-start-on-your-data"></a>', 1)[1].split('<a id="how-long"></a>', 1)[0]
    block = quick.split("```bash\n", 1)[1].split("```", 1)[0]
    assert "run.name=" not in block and resolved(readme_fundus_first_try())["run"]["name"] == "first-try"  # --first-try's
    comments = " ".join(line.removeprefix("#").strip() for line in block.splitlines() if line.startswith("#"))
    assert "leave it out for photographs already cropped square to the disc" in comments, comments


def test_the_fundus_configs_header_says_the_column_settings_as_the_readme_does() -> None:
    """A review: configs/fundus.yaml's example still gave ``data.image_column=file
    data.grade_column=grade``, read as a required naming (F3b's mistake, fixed in the README)."""
    from drac_ssl.config import DataConfig

    header = "\n".join(line for line in (GUIDE.parents[1] / "configs" / "fundus.yaml").read_text(
        encoding="utf-8").splitlines() if line.startswith("#"))
    assert "data.image_column=file" not in header and "data.grade_column=grade" not in header, header
    assert "data.image_column / data.grade_column: your CSV's columns of file names and ICDR grades" in header
    assert f"the defaults `{DataConfig().image_column}`, `{DataConfig().grade_column}`" in header


def test_the_full_run_keeps_the_settings_step_2_sets_and_gets_its_own_folder() -> None:
    """A trial user: the last paragraph said to keep ``run.name``, which step 2 never set
    (``--first-try`` names the folder ``first-try``); it names what step 2 set and the full
    run's own folder, the config's ``run.name``."""
    from drac_ssl.config import load_config

    text = GUIDE.read_text(encoding="utf-8")
    last = text.split("For the full run,", 1)[1]
    step2 = "data.root=" + text.split("--first-try data.root=", 1)[1].split("```", 1)[0]  # its command
    for kept in ("data.root", "data.fundus_crop=true", "run.out_dir"):
        assert kept in step2 and f"`{kept}`" in last, kept
    assert "run.name=" not in step2 and "`run.name`)" not in last.split("Its time follows", 1)[0]
    name = load_config(GUIDE.parents[1] / "configs" / "fundus.yaml").run.name
    assert f"its own run folder, `{name}`" in " ".join(last.split()), last


def test_the_rare_grades_section_names_each_balance_and_what_the_calibration_cannot_undo() -> None:
    """Small-set review F5: imbalance handling was documented only in configuration.md's table.
    The guide's section names every finetune.class_balance choice, the weight class_weights_for
    gives, and that the calibration is one temperature, checked against the code's fields: a
    per-grade correction added to Calibration would make its words wrong, and fail here."""
    import dataclasses

    import numpy as np

    from drac_ssl.config import _CHOICES as CHOICES  # the setting's allowed values
    from drac_ssl.grading.model import Calibration
    from drac_ssl.losses.grading import class_weights_for

    section = GUIDE.read_text(encoding="utf-8").split("## Rare grades", 1)[1]
    for choice in CHOICES["finetune.class_balance"]:
        assert f"- `{choice}`" in section, choice
    grades = np.array([0] * 30 + [1] * 12 + [2] * 3)
    assert class_weights_for(grades, 3)[2] == 45 / (3 * 3)  # n / (K * count_k), as the section says
    assert "`n / (K * count_k)`" in section
    assert {f.name for f in dataclasses.fields(Calibration)} == {"output", "temperature", "thresholds", "decision",
                                                                 "referral"}
    assert "it is one temperature" in " ".join(section.split())
    assert "has no per-grade offset" in " ".join(section.split())


def test_the_full_runs_time_follows_the_image_count_with_its_measurement_labelled() -> None:
    """A trial user with 30 photographs read "the real recipe is a GPU job" / "run it on a GPU"
    and nearly gave up; her full run took 221 s on a 2-core CPU. The guide and the README say
    the time follows the image count; the figure is labelled hand-measured, with its command, and
    that command's folds (data.n_folds=4 at seed 0, No DR out of a fold) as not to be copied."""
    text = " ".join(GUIDE.read_text(encoding="utf-8").split())
    assert "run it on a GPU" not in text and "the real recipe is a GPU job" not in text
    full = text.split('<a id="full-run-time"></a>', 1)[1].split("## ", 1)[0]
    assert "Its time follows the image count" in full and "minutes on a CPU" in full
    assert "hand-measured" in full and "-m drac_ssl.train -c configs/fundus.yaml" in full and "221 s" in full
    # review F7: its data.n_folds=4 at seed 0 left No DR out of a fold: labelled, the checked fix named
    assert "not a command to copy" in full and "`data.n_folds=4 data.fold_seed=1`" in full
    assert "estimates" not in full  # review F2: the next: line points here, it gives no figure
    readme = " ".join((GUIDE.parents[1] / "README.md").read_text(encoding="utf-8").split())
    assert "the time follows the image count" in readme and "own_fundus_folder.md#full-run-time" in readme
