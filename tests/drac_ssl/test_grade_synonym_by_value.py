"""A grade column's other name (``data.labels``, ``data.label``, ``data.diagnosis``) was offered
``data.grade_column`` whatever its value, so ``data.labels=/data/eyepacs/trainLabels.csv`` was
told ``data.grade_column=/data/...`` (a column named by a path) and ``data.labels=[no, mild]``
``grade_column=[...]``. The setting is now chosen by the value for every such name
(drac_ssl.config.meant_setting): a path or a .csv / .tsv file is data.labels_csv, a list or a
scale's name data.grades, anything else data.grade_column."""

from __future__ import annotations

import pytest

from drac_ssl.config import ConfigError, UnknownSettingError, load_config


def meant(override: str) -> str:
    with pytest.raises(UnknownSettingError) as caught:
        load_config(None, [override])
    return str(caught.value)


@pytest.mark.parametrize("override", ["data.labels=/data/eyepacs/trainLabels.csv",
                                      "data.label=trainLabels.csv", "data.diagnosis=grades.tsv",
                                      r"data.level=C:\aptos\train"])
def test_a_path_is_offered_data_labels_csv(override: str) -> None:
    said = meant(override)
    assert "Did you mean 'data.labels_csv'?" in said, said
    assert f"fix: data.labels_csv={override.partition('=')[2]}" in said.replace("'", ""), said


@pytest.mark.parametrize("override", ["data.labels=[no,mild,moderate]", "data.label=icdr",
                                      "data.level=drac", "data.label_column=[a, b]"])
def test_a_list_or_a_scale_is_offered_data_grades(override: str) -> None:
    said = meant(override)
    assert "Did you mean 'data.grades'?" in said, said


@pytest.mark.parametrize("override", ["data.labels=level", "data.diagnosis=diagnosis",
                                      "data.grade=adjudicated_dr_grade"])
def test_a_columns_name_is_offered_data_grade_column(override: str) -> None:
    said = meant(override)
    assert "Did you mean 'data.grade_column'?" in said, said


def test_a_dotted_key_in_a_file_is_offered_by_its_value_too(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("data.labels: /data/eyepacs/trainLabels.csv\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), [])
    assert "Did you mean 'data.labels_csv'?" in str(caught.value)
    assert "labels_csv: /data/eyepacs/trainLabels.csv" in str(caught.value)
