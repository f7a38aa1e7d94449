"""docs/configuration.md's settings reference is what drac_ssl/config.py says (a review: the
unknown-setting fix said every setting is listed there, while most were not, e.g.
phantom_n_train, knn_limit, fd_radius, membership_temperature, conv_head_channels)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from drac_ssl import config, settings_table


def _every_setting(cfg: object, prefix: str = "") -> list[str]:
    found = []
    for f in dataclasses.fields(cfg):  # type: ignore[arg-type]
        value = getattr(cfg, f.name)
        found += (_every_setting(value, f"{prefix}{f.name}.") if dataclasses.is_dataclass(value)
                  else [f"{prefix}{f.name}"])
    return found


def test_the_pages_settings_reference_is_what_config_py_writes() -> None:
    """Fails when a setting is added, renamed, its default or its comment changed without
    rerunning python -m drac_ssl.settings_table (which rewrites the page's table)."""
    assert settings_table.page_table() == settings_table.settings_table(), (
        "docs/configuration.md's settings reference differs from drac_ssl/config.py: "
        "run python -m drac_ssl.settings_table")


def test_every_setting_is_in_the_reference_with_its_type_default_and_meaning() -> None:
    rows = settings_table.settings_rows()
    assert [row[1] for row in rows] == _every_setting(config.Config())
    page = settings_table.page_table()
    for name in ("phantom_n_train", "knn_limit", "fd_radius", "membership_temperature",
                 "conv_head_channels", "graham_mask", "keep_checkpoints", "min_lr_ratio",
                 "lars_clip_lr", "past_peak_drop", "n_boot", "frozen_train_views"):
        assert f".{name}` |" in page, name
    assert ("| `umm.fd_radius` | float | `0.01` | finite_difference: step r = fd_radius / "
            "\\|\\|v\\|\\| (DARTS) |") in page
    assert "| `data.cache_sizes` | list[int] | `[256,512]` |" in page
    assert all(meaning for *_, meaning in rows)


def test_a_setting_without_a_comment_is_refused_naming_it() -> None:
    meanings = settings_table.field_comments(
        "class Section:\n"
        "    # a block above\n    # of two lines\n    a: int = 1\n"
        "    b: str = ''  # on its line\n"
        "    c: bool = True\n")
    assert meanings == {("Section", "a"): "a block above of two lines", ("Section", "b"): "on its line"}
    known = settings_table.field_comments(Path(config.__file__).read_text(encoding="utf-8"))
    del known[("UMMConfig", "fd_radius")]
    with pytest.raises(ValueError, match=r"the setting umm.fd_radius \(UMMConfig.fd_radius\) has no comment"):
        settings_table.settings_rows(meanings=known)


def test_the_script_rewrites_a_stale_table_and_check_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "configuration.md"
    page.write_text(f"# Configuration\n\n{settings_table.BEGIN}\n| old |\n{settings_table.END}\nafter\n",
                    encoding="utf-8")
    monkeypatch.setattr(settings_table, "DOC", page)
    assert settings_table.main(["--check"]) == 1
    assert "the settings reference differs" in capsys.readouterr().err
    assert settings_table.main([]) == 0
    assert settings_table.page_table(page) == settings_table.settings_table()
    assert page.read_text(encoding="utf-8").endswith(f"{settings_table.END}\nafter\n")
    assert settings_table.main(["--check"]) == 0 and not settings_table.write(page)


def test_outside_a_checkout_the_tool_says_so_instead_of_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A new user's trial ran it from a non-editable install: FileNotFoundError on
    site-packages/docs/configuration.md."""
    monkeypatch.setattr(settings_table, "DOC", tmp_path / "docs" / "configuration.md")
    for argv in ([], ["--check"]):
        assert settings_table.main(argv) == 2
        err = capsys.readouterr().err
        assert "not found" in err and "checkout" in err and "fix:" in err, err
    assert not (tmp_path / "docs").exists()


def test_an_installed_package_never_writes_a_page_beside_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """From an install (its configs in drac_ssl/configs: config.CHECKOUT None) the tool refuses
    without reading site-packages/docs/, which would be another distribution's."""
    from drac_ssl import config

    page = tmp_path / "docs" / "configuration.md"
    page.parent.mkdir()
    page.write_text(f"{settings_table.BEGIN}\n{settings_table.END}\n", encoding="utf-8")
    monkeypatch.setattr(settings_table, "DOC", page)
    monkeypatch.setattr(config, "CHECKOUT", None)
    for argv in ([], ["--check"]):
        assert settings_table.main(argv) == 2
        err = capsys.readouterr().err
        assert "drac_ssl is installed here" in err and "fix: run it in a drac_ssl checkout" in err, err
        assert "Traceback" not in err
    assert page.read_text(encoding="utf-8") == f"{settings_table.BEGIN}\n{settings_table.END}\n"
