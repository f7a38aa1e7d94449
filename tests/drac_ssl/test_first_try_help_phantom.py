"""A CLI review (F9): ``--first-try``'s help did not say that without data.root (the default
config) the run first generates the phantom set, about 0.82 GiB of images, into ./data/phantom
under the current folder; a user found it there afterwards."""

from __future__ import annotations

from drac_ssl.commands import train_parser
from drac_ssl.config import DataConfig
from drac_ssl.trial_run import first_try_help


def test_the_first_try_help_says_what_the_phantom_set_writes_and_where() -> None:
    from data_prep.phantom import PNG_MIB_ESTIMATE  # the measured figure, the help's own

    images = DataConfig.phantom_n_train + DataConfig.phantom_n_test
    said = first_try_help()
    assert f"Without data.root (the default config) it runs on the phantom set, which it first generates ({images} synthetic images, about {images * PNG_MIB_ESTIMATE / 1024:.2f} GiB) into ./data/phantom" in said
    assert "0.82 GiB" in said  # 997 images of 0.845 MiB
    assert "./data/phantom" in " ".join(train_parser().format_help().split())
