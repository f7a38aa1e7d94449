"""docs/upgrading.md (an upgrade review, F5): a user of runs and bundles made by older code had
no page saying which code made them, what newer code does with them and what changed; docs/data.md
spoke of "the release that brought it" where there are no numbered releases. The page's facts
are held to the code they describe."""

from __future__ import annotations

from pathlib import Path

from drac_ssl import __version__, runtime
from drac_ssl.config import GRADE_SCALES
from drac_ssl.io import PEOPLE_CSV_ENCODING
from drac_ssl.scale import ICDR_CLINICAL_NAMES
from drac_ssl.submission import IMAGE_NOTES_COLUMNS, IMAGE_NOTES_COLUMNS_BEFORE

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "upgrading.md"


def _text(page: Path) -> str:
    return " ".join(page.read_text(encoding="utf-8").split())  # lines joined: phrases may wrap


def test_the_upgrading_page_is_linked_and_says_there_are_no_releases() -> None:
    assert "(docs/upgrading.md)" in (REPO / "README.md").read_text(encoding="utf-8")
    text = _text(PAGE)
    assert "no numbered releases yet" in text and f"said {__version__} from the start" in text
    assert "release that brought" not in _text(REPO / "docs" / "data.md")


def test_the_upgrading_page_names_the_fields_and_columns_the_code_writes() -> None:
    text = _text(PAGE)
    for field in ("git_commit", "git_dirty", "code_source", "code_fingerprint", "distribution_version",
                  "run_code", "finetune_code", "built_with", "train_views", "pretraining_images"):
        assert f"`{field}`" in text, field
    assert all(f"`{folder}/`" in text for folder in runtime.FINGERPRINT_FOLDERS)
    assert f"`{','.join(IMAGE_NOTES_COLUMNS)}`" in text  # the notes file's header now
    added = IMAGE_NOTES_COLUMNS[len(IMAGE_NOTES_COLUMNS_BEFORE):]
    assert "the first files had the first four" in text and len(IMAGE_NOTES_COLUMNS_BEFORE) == 4
    assert all(f"`{column}`" in text for column in added), added
    # the notes file's byte-order mark, and how to read past it
    assert PEOPLE_CSV_ENCODING == "utf-8-sig" and f'`encoding="{PEOPLE_CSV_ENCODING}"`' in text
    # the names shown to people, and the recorded ones the machine formats keep
    assert ", ".join(ICDR_CLINICAL_NAMES[:-1]) + f", {ICDR_CLINICAL_NAMES[-1]}" in text
    assert ", ".join(GRADE_SCALES["icdr"]) in text


def test_compare_runs_section_names_the_code_column() -> None:
    """An upgrade review (F5): docs/running.md's "Compare runs" listed the --csv columns but not
    `code`, which compare adds only when the runs' code differs (drac_ssl.compare.code_text)."""
    running = (REPO / "docs" / "running.md").read_text(encoding="utf-8")
    section = _text_of(running.split("## Compare runs", 1)[1].split("\n## ", 1)[0])
    assert "the `--csv` gains a `code` column" in section and "runs of one code have no such column" in section
    assert "code fingerprints" in section  # what decides, as drac_ssl.runtime.same_code


def _text_of(markdown: str) -> str:
    return " ".join(markdown.split())


def test_the_upgrading_page_names_oof_csv_s_optional_columns_in_their_order() -> None:
    """A final read: the page said "patient is the last column" of oof.csv, which a site column
    follows now, and had no entry for the referral columns."""
    from drac_ssl.oof import PATIENT_COLUMN, REFERRAL_COLUMNS, SITE_COLUMN, oof_columns

    text = _text(PAGE)
    assert all(f"`{column}`" in text for column in (*REFERRAL_COLUMNS, PATIENT_COLUMN, SITE_COLUMN))
    assert "patient is the last column" not in text and "`site` is the last column" in text
    columns = oof_columns(3, "classification", patients=True, referral=True, sites=True)
    assert columns[-5:] == [*REFERRAL_COLUMNS, PATIENT_COLUMN, SITE_COLUMN]
    assert "into the last column" not in _text(REPO / "docs" / "running.md")


def test_the_page_says_pip_list_shows_an_editable_installs_version_of_its_install_time() -> None:
    """A review (F4): "an editable install's code still says 0.1.0" left out that ``pip list``
    shows the editable install's metadata, versioned by the commit it was installed at
    (setup.py), which setup.sh renews only when the lock changes."""
    text = _text(PAGE)
    said = text.split("A checkout (and an editable install's code) still says", 1)[1].split("- **", 1)[0]
    assert "`pip list` shows an editable install's version as of its install" in said
    assert "`scripts/setup.sh` reinstalls only when the lock changes" in said
    setup_sh = (REPO / "scripts" / "setup.sh").read_text(encoding="utf-8")
    reinstall = setup_sh.split("if up_to_date; then", 1)[1].split("\nfi\n", 1)[0]
    assert "-e ." in reinstall.split("else", 1)[1]  # the editable install: in the not-up-to-date branch only
