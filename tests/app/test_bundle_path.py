"""app/bundle_path.py: the "no bundle found" hint names commands that run in the install at
hand, an editable one (the checkout's configs/ there) and one that lost its shipped configs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from app.bundle_path import make_bundle_hint
from drac_ssl import config


def _config_files_named(hint: str) -> list[str]:
    """The ``-c FILE`` words of the hint's commands."""
    return re.findall(r" -c (\S+)", hint)


def test_the_hint_names_the_installed_configs_by_a_path_that_works_from_any_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An editable install (or a checkout): the configs are there, but 'configs/drac.yaml' is
    read from the current folder, which need not be the checkout: the hint names the file by
    its full path, and the no-argument demo, which reads configs/default.yaml from the package."""
    monkeypatch.chdir(tmp_path)  # not the checkout: no configs/ here
    hint = make_bundle_hint(Path("runs"), command="drac-ssl-app")
    files = _config_files_named(hint)
    assert files and all(Path(shlex.split(f)[0]).is_file() for f in files), hint
    assert str(config.PACKAGE_CONFIGS / "drac.yaml") in files[0], hint
    assert "python -m drac_ssl.train  " in hint or "python -m drac_ssl.train\n" in hint, hint  # the demo


def test_the_hint_names_configs_drac_yaml_as_is_from_the_checkout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(config.PACKAGE_CONFIGS.parent)
    hint = make_bundle_hint(Path("runs"), command="drac-ssl-app")
    assert _config_files_named(hint)[0] == str(Path("configs") / "drac.yaml"), hint
    # colour fundus photographs too (a trial: the hint named DRAC's commands alone)
    assert _config_files_named(hint)[1] == str(Path("configs") / "fundus.yaml"), hint
    assert "data.fundus_crop=true   # colour fundus photographs" in hint, hint


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
