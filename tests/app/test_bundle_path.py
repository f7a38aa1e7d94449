"""app/bundle_path.py: the "no bundle found" hint names commands that run in the install at
hand, an editable one (the checkout's configs/ there) and one that lost its shipped configs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from app.bundle_path import make_bundle_hint
from drac_ssl import config


def _config_files_named(hint: str) -> list[str]:
    """The ``-c FILE`` words of the hint's commands."""
    return re.findall(r" -c (\S+)", hint)


@pytest.mark.parametrize("where", ["elsewhere", "checkout", "install"])
def test_the_hint_names_the_shipped_configs_by_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """The configs are there (a checkout, an editable install run from another folder, an
    install's drac_ssl/configs): the hint names them by name, ``-c drac`` and ``-c fundus``,
    which read them from any folder (a review: an install's hint printed
    ``-c /.../site-packages/drac_ssl/configs/drac.yaml``); and the no-argument demo."""
    monkeypatch.chdir(config.PACKAGE_CONFIGS.parent if where == "checkout" else tmp_path)
    if where == "install":
        site = tmp_path / "site-packages" / "drac_ssl" / "configs"
        shutil.copytree(config.PACKAGE_CONFIGS, site)
        monkeypatch.setattr(config, "PACKAGE_CONFIGS", site)
    hint = make_bundle_hint(Path("runs"), command="drac-ssl-app")
    assert _config_files_named(hint) == ["drac", "fundus"], hint
    assert [config.config_file(w) for w in _config_files_named(hint)] == [
        config.PACKAGE_CONFIGS / "drac.yaml", config.PACKAGE_CONFIGS / "fundus.yaml"]
    assert "site-packages" not in hint, hint
    assert "data.fundus_crop=true   # colour fundus photographs" in hint, hint
    assert "python -m drac_ssl.train  " in hint or "python -m drac_ssl.train\n" in hint, hint  # the demo


def test_the_hint_names_a_shipped_config_by_path_where_a_file_here_takes_its_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file ``drac`` in the current folder: ``-c drac`` would read it, so the hint names the
    shipped file by its path."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "drac").write_text("pretrain:\n  epochs: 1\n", encoding="utf-8")
    hint = make_bundle_hint(Path("runs"), command="drac-ssl-app")
    assert _config_files_named(hint) == [str(config.PACKAGE_CONFIGS / "drac.yaml"), "fundus"], hint


def test_a_non_editable_install_is_not_sent_to_a_config_file_it_does_not_have(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: the hint told 'python -m drac_ssl.train -c configs/drac.yaml', and the
    no-argument demo, where an install has no configs (a non-editable install before they were
    shipped as drac_ssl/configs; config.PACKAGE_CONFIGS missing: the train command refuses to
    run without -c, exit 2). It
    says so and how: a config file of one's own (the checkout's configs/drac.yaml as a start),
    or an editable install; and the demo bundle, which needs no config."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(config, "PACKAGE_CONFIGS", tmp_path / "site-packages" / "configs")
    hint = make_bundle_hint(Path("runs"), command="drac-ssl-app")
    assert "configs/drac.yaml" not in [f for f in _config_files_named(hint)], hint
    assert not re.search(r"python -m drac_ssl.train +#", hint), hint  # no demo without its config
    assert "-c FILE" in hint and config.NO_CONFIGS_WHY in hint and "pip install -e ." in hint, hint
    assert "python -m app.demo_bundle runs/demo" in hint, hint
