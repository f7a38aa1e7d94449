"""stage_settings.REUSABLE_STAGES against the code: a setting a stage reads that the list
leaves out would let a resume or ``run.reuse`` take an out-of-date output without a word."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from drac_ssl.stage_settings import (
    OUTPUT_ONLY_SETTINGS,
    REUSABLE_STAGES,
    SPEED_SETTINGS,
    config_differences,
    fold_lines,
    parse_difference_line,
    reads,
)

REPO = Path(__file__).resolve().parents[2]

NOT_A_DEPENDENCY = {"run.device": "a pretraining made on a GPU may be fine-tuned on a CPU (REUSABLE_STAGES)"}
"""Settings the pretraining reads that its output does not depend on, beside
OUTPUT_ONLY_SETTINGS."""

WRITES_EVERY_SETTING = {"to_dict", "dataclasses.replace"}
"""Functions given the whole configuration that record or copy it (metadata.json, the
checkpoint's config; ``with_data_channels``' copy) rather than act on a setting."""


class _SettingReads:
    """The ``section.name`` settings a module's code reads of a configuration, found in the
    source (:func:`settings_read`)."""

    def __init__(self, path: Path, config_names: set[str] | None = None, only: str | None = None) -> None:
        self.path = path
        self.tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        # names that hold the whole configuration: ``cfg`` and ``self.cfg`` (or a followed
        # function's parameter)
        self.config_names = config_names or {"cfg", "self.cfg"}
        self.only = only  # a followed function: read only its body
        self.imports = {alias.asname or alias.name: (node.module, alias.name)
                        for node in ast.walk(self.tree) if isinstance(node, ast.ImportFrom) and node.module
                        for alias in node.names}

    def body(self) -> ast.AST:
        if self.only is None:
            return self.tree
        return next(n for n in ast.walk(self.tree)
                    if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == self.only)

    @staticmethod
    def dotted(node: ast.AST) -> str:
        """``a.b.c`` of a Name/Attribute chain, "" for anything else."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else ""

    def sections(self) -> dict[str, set[str]]:
        """Names (``pc``, ``self.pc``) bound to a section of the configuration (``cfg.pretrain``),
        by assignment anywhere in the body, through other such names too."""
        aliases: dict[str, set[str]] = {}
        for _ in range(3):  # pc = cfg.pretrain; self.pc = pc
            for node in ast.walk(self.body()):
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    targets, values = node.targets[0], node.value
                    pairs = (zip(targets.elts, values.elts, strict=False)
                             if isinstance(targets, ast.Tuple) and isinstance(values, ast.Tuple)
                             else [(targets, values)])
                    for target, value in pairs:
                        name, source = self.dotted(target), self.dotted(value)
                        head, _, section = source.rpartition(".")
                        if name and head in self.config_names:
                            aliases.setdefault(name, set()).add(section)
                        elif name and source in aliases:
                            aliases.setdefault(name, set()).update(aliases[source])
        return aliases

    def reads(self, depth: int = 0) -> Iterator[tuple[str, str]]:
        """``(setting, where)`` of each read: ``cfg.umm.eps2`` -> ``umm.eps2``; a section
        handed whole to other code -> ``umm.*``; the configuration handed whole to a function
        imported from the package: that function's reads (followed, 3 calls deep)."""
        aliases = self.sections()
        for node in ast.walk(self.body()):
            where = f"{self.path.relative_to(REPO)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Attribute):
                head = self.dotted(node.value)
                if not head:
                    continue
                base, _, section = head.rpartition(".")
                if base in self.config_names:
                    yield f"{section}.{node.attr}", where
                for section in aliases.get(head, ()):
                    yield f"{section}.{node.attr}", where
            elif isinstance(node, ast.Call):
                callee = self.dotted(node.func)
                arguments = [(i, a) for i, a in enumerate(node.args)] + [(k.arg, k.value) for k in node.keywords]
                for position, argument in arguments:
                    text = self.dotted(argument)
                    if text in aliases or text.rpartition(".")[0] in self.config_names:
                        for section in aliases.get(text, {text.rpartition(".")[2]}):
                            yield f"{section}.*", f"{where} (handed to {callee})"
                    elif text in self.config_names and callee not in WRITES_EVERY_SETTING:
                        yield from self.follow(callee, position, where, depth)

    def follow(self, callee: str, position: int | str | None, where: str,
               depth: int) -> Iterator[tuple[str, str]]:
        """The reads of ``callee`` given the whole configuration at ``position``."""
        if callee in {f.name for f in ast.walk(self.tree) if isinstance(f, ast.FunctionDef | ast.ClassDef)}:
            return  # defined here: its body is read with the module's
        module, name = self.imports.get(callee.split(".")[0], (None, None))
        path = REPO.joinpath(*(module or "").split(".")).with_suffix(".py")
        if module is None or not module.startswith("drac_ssl") or not path.is_file() or depth >= 3:
            yield "?", f"{where}: the configuration handed to {callee}, which this test cannot follow"
            return
        function = next(n for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                        if isinstance(n, ast.FunctionDef) and n.name == name)
        params = [a.arg for a in function.args.args]
        param = params[position] if isinstance(position, int) else position
        yield from _SettingReads(path, {str(param)}, only=name).reads(depth + 1)


def settings_read(path: Path) -> dict[str, str]:
    """Setting -> where it is first read, for the code of ``path`` (and what it hands the
    configuration to)."""
    found: dict[str, str] = {}
    for setting, where in _SettingReads(path).reads():
        found.setdefault(setting, where)
    return found


def uncovered(stage: str, path: Path) -> dict[str, str]:
    covered = (*REUSABLE_STAGES[stage], *OUTPUT_ONLY_SETTINGS, *NOT_A_DEPENDENCY)
    return {s: w for s, w in settings_read(path).items()
            if not (s.removesuffix("*") in covered if s.endswith(".*") else reads(covered, s))}


def test_every_setting_the_pretraining_reads_is_one_its_reuse_compares() -> None:
    """Limits: the configuration is recognised as ``cfg`` / ``self.cfg`` and names assigned
    from its sections (``uc = cfg.umm``); a function of the package handed the whole
    configuration is followed (3 calls deep), code outside the package is not (the test
    fails: say what it reads); a section handed whole to other code counts as every setting
    of it; a setting named by a string (``getattr(cfg, name)``) is not seen."""
    found = settings_read(REPO / "drac_ssl" / "pretrain.py")
    assert {"umm.early_cut", "umm.eps2", "umm.membership", "pretrain.lr", "run.seed"} <= set(found), found
    missing = uncovered("pretrain", REPO / "drac_ssl" / "pretrain.py")
    assert not missing, ("drac_ssl/pretrain.py reads settings that REUSABLE_STAGES['pretrain'] does not "
                         f"compare (a resume or run.reuse would take an out-of-date pretraining): {missing}")


def test_a_config_written_before_finetune_keep_is_read_as_the_best_it_ran_under() -> None:
    # finetune.keep's default became last (December 2026); a run folder from before the
    # setting existed ran under best, and must be read so (review s51 R1)
    from drac_ssl.config import Config, to_dict
    from drac_ssl.stage_settings import saved_settings

    old = to_dict(Config())
    del old["finetune"]["keep"]
    assert saved_settings(old)["finetune"]["keep"] == "best"
    written = to_dict(Config())  # a config of today names its rule: kept as written
    assert saved_settings(written)["finetune"]["keep"] == "last"
    written["finetune"]["keep"] = "best"
    assert saved_settings(written)["finetune"]["keep"] == "best"


def test_an_old_run_folder_resumes_with_its_own_config_yaml(tmp_path: Path) -> None:
    """Review s52c F1: the saved side read an old config.yaml (no finetune.keep) as best, but
    the same file passed with -c, the refusal's own fix, loaded as today's last: the rerun was
    refused again with the same fix, a loop. A run's resolved file (save_config's header) is
    read with the former defaults wherever it is loaded; a hand-written file is not."""
    from drac_ssl import preflight, train
    from drac_ssl.config import load_config, save_config

    run = tmp_path / "runs" / "old"
    cfg = load_config(train.DEFAULT_CONFIG, [f"run.out_dir={tmp_path / 'runs'}", "run.name=old"])
    save_config(cfg, run / "config.yaml")
    text = (run / "config.yaml").read_text(encoding="utf-8")
    assert "  keep: last\n" in text
    (run / "config.yaml").write_text(text.replace("  keep: last\n", ""), encoding="utf-8")
    (run / "data").mkdir()
    (run / "data" / "manifest.csv").write_text("id\n", encoding="utf-8")
    (run / "finetune").mkdir()  # a stage's output: every setting is compared, not data.* only
    again = load_config(run / "config.yaml")
    assert again.finetune.keep == "best"
    assert not train._existing_run_problem(again, run)  # "" when the folder takes it
    assert preflight.read_config(run / "config.yaml")[0].finetune.keep == "best"
    hand = tmp_path / "mine.yaml"  # a user's own file without the setting: today's default
    hand.write_text("finetune:\n  epochs: 3\n", encoding="utf-8")
    assert load_config(hand).finetune.keep == "last"


def test_a_patience_keep_last_does_not_read_is_no_difference_of_a_run_folder(tmp_path: Path) -> None:
    """Review s52c F6: the preflight warns that keep=last leaves finetune.patience unused and
    says to leave it out; doing so on an existing run folder was refused ('finetune.patience:
    4 -> 5'). Under keep=last on both sides it is no difference; a change of rule still is."""
    from drac_ssl import train
    from drac_ssl.config import load_config, save_config

    run = tmp_path / "runs" / "pat"
    base = [f"run.out_dir={tmp_path / 'runs'}", "run.name=pat"]
    save_config(load_config(train.DEFAULT_CONFIG, [*base, "finetune.patience=4"]), run / "config.yaml")
    (run / "data").mkdir()
    (run / "data" / "manifest.csv").write_text("id\n", encoding="utf-8")
    (run / "finetune").mkdir()  # a stage's output: every setting is compared, not data.* only
    assert not train._existing_run_problem(load_config(train.DEFAULT_CONFIG, base), run)
    refused = train._existing_run_problem(load_config(train.DEFAULT_CONFIG, [*base, "finetune.keep=best"]), run)
    assert "finetune.keep: 'last' -> 'best'" in refused, refused


def test_the_fundus_recipe_after_an_ingest_that_read_colour_photographs_reuses_that_ingest(tmp_path: Path) -> None:
    """Review s52c F2: under configs/drac.yaml (data.modality auto) colour photographs stop after
    the ingest, with the fix 'pretrain.backbone.in_channels=3 pretrain.augment.recipe=fundus
    (the ingest is reused)'; the rerun was refused as the ingest's modality 'auto -> fundus',
    though the ingest had resolved auto to fundus. It is refused only when the ingest resolved
    it otherwise."""
    import json

    from drac_ssl import train
    from drac_ssl.config import load_config, save_config

    drac = Path(train.DEFAULT_CONFIG).parent / "drac.yaml"
    run = tmp_path / "runs" / "colour"
    base = [f"run.out_dir={tmp_path / 'runs'}", "run.name=colour", f"data.root={tmp_path / 'photos'}"]
    save_config(load_config(drac, base), run / "config.yaml")
    (run / "data").mkdir()
    (run / "data" / "manifest.csv").write_text("id\n", encoding="utf-8")
    fixed = load_config(drac, [*base, "pretrain.backbone.in_channels=3", "pretrain.augment.recipe=fundus"])
    for resolved, refused in (("fundus", False), ("octa", True)):
        (run / "data" / "ingest_summary.json").write_text(
            json.dumps({"modality": {"value": resolved, "setting": "auto"}}), encoding="utf-8")
        problem = train._existing_run_problem(fixed, run)
        assert bool(problem) is refused, (resolved, problem)
        assert ("auto -> fundus" in problem) is refused


def _monitor_keys(path: Path, module: object) -> set[str]:
    """The metric each engine ``Monitor(...)`` of ``path`` watches: its first argument's
    strings, and its names resolved in ``module`` (``PROBE_KEY if probe else MONITOR_KEY``:
    both)."""
    keys: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and _SettingReads.dotted(node.func) == "Monitor"):
            continue
        argument = node.args[0] if node.args else next(k.value for k in node.keywords if k.arg == "key")
        for leaf in ast.walk(argument):
            if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str):
                keys.add(leaf.value)
            elif isinstance(leaf, ast.Name) and isinstance(getattr(module, leaf.id, None), str):
                keys.add(getattr(module, leaf.id))
    return keys


def test_the_choices_of_pretraining_and_umm_watch_no_figure_read_from_the_folds() -> None:
    """run.reuse takes a pretraining and UMM into a run with other folds because nothing they
    keep or stop on reads a grade (stage_settings.fold_dependence): every monitor they stop or
    keep weights by is listed in STAGE_CHOICES, which holds none of FOLD_LABEL_FIGURES, and
    UMM runs no k-NN monitor. A new early stop on the k-NN monitor fails here."""
    from drac_ssl import pretrain
    from drac_ssl.config import Config
    from drac_ssl.stage_settings import FOLD_LABEL_FIGURES, STAGE_CHOICES, fold_dependence
    from drac_ssl.umm import source, stage

    watched = {"pretrain": _monitor_keys(REPO / "drac_ssl" / "pretrain.py", pretrain),
               "umm": _monitor_keys(REPO / "drac_ssl" / "umm" / "stage.py", stage)}
    assert watched == {"pretrain": {"loss"}, "umm": {stage.PROBE_KEY, source.MONITOR_KEY}}, watched
    for name, keys in watched.items():
        assert keys <= set(STAGE_CHOICES[name]), (name, keys)
    # monitor_peak.pt (UMM's start: peak, past_peak) and UMM's guard
    assert source.MONITOR_KEY in STAGE_CHOICES["pretrain"] and "ssl_loss" in STAGE_CHOICES["umm"]
    assert not {k for choices in STAGE_CHOICES.values() for k in choices} & set(FOLD_LABEL_FIGURES)
    # the figures are the k-NN monitor's, recorded by the pretraining under these names
    text = (REPO / "drac_ssl" / "pretrain.py").read_text(encoding="utf-8")
    assert all(f'"{key}"' in text for key in FOLD_LABEL_FIGURES)
    cfg = Config()
    cfg.pretrain.knn_every = 5
    assert stage.feed_config(cfg).pretrain.knn_every == 0  # UMM's feed: no k-NN monitor
    assert fold_dependence("pretrain", cfg) == ("", tuple(FOLD_LABEL_FIGURES))
    assert fold_dependence("umm", cfg) == ("", ())
    cfg.pretrain.knn_every = 0
    assert fold_dependence("pretrain", cfg) == ("", ())


# what config_differences writes for values that hold its own separators: (old, new) configs
_AWKWARD_VALUES = {
    "old value with ': '": ({"data": {"k": "a: b"}}, {"data": {"k": "c"}}),
    "new value with ': '": ({"data": {"k": "c"}}, {"data": {"k": "a: b"}}),
    "old value with ' -> '": ({"data": {"k": "a -> b"}}, {"data": {"k": "c"}}),
    "new value with ' -> '": ({"data": {"k": "c"}}, {"data": {"k": "a -> b"}}),
    "both with both": ({"data": {"k": "x -> y: z"}}, {"data": {"k": "p: q -> r"}}),
    "list value": ({"data": {"k": [1, "x: y", "u -> v"]}}, {"data": {"k": [2]}}),
    "quoted string": ({"data": {"k": "it's \"q\" -> \\"}}, {"data": {"k": "plain"}}),
    "key added": ({"data": {}}, {"data": {"k": 3}}),
    "key removed": ({"data": {"k": 3}}, {"data": {}}),
    "section added": ({}, {"data": {"k": {"x": "1: 2"}}}),
    "section removed": ({"data": {"k": {"x": "1 -> 2"}}}, {}),
    "not a number": ({"data": {"k": float("nan")}}, {"data": {"k": float("inf")}}),
}


def _only_line(old: dict, new: dict) -> tuple[str, Any, Any]:
    """The one difference of ``old`` and ``new``: its line, and the two values it names."""
    (line,) = config_differences(old, new)
    key = line.partition(": ")[0]
    node_a: Any = old
    node_b: Any = new
    for part in key.split("."):
        node_a = node_a.get(part) if isinstance(node_a, dict) else None
        node_b = node_b.get(part) if isinstance(node_b, dict) else None
    return line, node_a, node_b


def test_a_difference_line_parses_back_to_its_key_and_the_repr_of_both_values() -> None:
    for name, (old, new) in _AWKWARD_VALUES.items():
        line, a, b = _only_line(old, new)
        key = "data.k" if "data" in old and "data" in new else "data"
        assert parse_difference_line(line) == (key, repr(a), repr(b)), (name, line)


def test_lines_that_are_not_differences_keep_the_words_whole() -> None:
    # plan.why words and the ingest-modality lines train.py adds beside config_differences'
    assert parse_difference_line("it has not finished in runs/a") == ("it has not finished in runs/a", "", "")
    assert parse_difference_line("the ingest's data.modality (auto: pretrain.augment.recipe=fundus means "
                                 "fundus): auto -> fundus") == (
        "the ingest's data.modality (auto: pretrain.augment.recipe=fundus means fundus)", "auto", "fundus")
    assert parse_difference_line("data.k: 1") == ("data.k", "1", "")


def test_the_fold_lines_of_awkward_values_are_the_values_config_differences_wrote() -> None:
    for name, (old, new) in _AWKWARD_VALUES.items():
        if "section" in name:
            continue
        fold = {"data": {"fold_seed": old["data"].get("k")} if "k" in old["data"] else {}}
        fold_new = {"data": {"fold_seed": new["data"].get("k")} if "k" in new["data"] else {}}
        (line,) = config_differences(fold, fold_new)
        expected = (repr(fold["data"].get("fold_seed")), repr(fold_new["data"].get("fold_seed")))
        assert fold_lines([line]) == {"data.fold_seed": expected}, (name, line)
        assert fold_lines(["data.fold_seed: 1", line, "data.n_folds 5 -> 4"], last=True) == {
            "data.fold_seed": expected}, name  # a line without ' -> ' or ': ' is none


def test_an_ingest_recorded_before_site_column_read_it_as_no_site() -> None:
    """A review: an ingest_summary.json written before data.site_column existed has no
    ``site_column`` in its config, and data.site_column=site did not count as a difference (the
    ingest reused, its folds not split on sites). Unrecorded is '' now."""
    from drac_ssl.stage_settings import IngestRecord

    old = IngestRecord(Path("data"), summary={}, made={"patient_column": ""})
    assert old.differs("data.site_column", {"site_column": "site"})
    assert not old.differs("data.site_column", {"site_column": ""})
    assert not old.differs("data.site_column", {"site_column": "  "})
    assert old.value("data.site_column") == ""
    recorded = IngestRecord(Path("data"), summary={}, made={"site_column": "site"})
    assert not recorded.differs("data.site_column", {"site_column": " site "})
    assert recorded.differs("data.site_column", {"site_column": ""})


def test_compare_names_an_output_only_setting_only_when_it_is_marked_a_speed_setting() -> None:
    # one list: OUTPUT_ONLY_SETTINGS says which of its settings are speed settings, and compare
    # (its differing settings) and SPEED_SETTINGS (compare's line of speed settings) both read it
    from drac_ssl.compare import _differing_settings

    marked = [key for key, speed in OUTPUT_ONLY_SETTINGS.items() if speed]
    assert marked == ["pretrain.num_workers"]
    a = {**dict.fromkeys(OUTPUT_ONLY_SETTINGS, 1), "finetune.lr": 1, "pretrain.compile": "auto"}
    b = {**dict.fromkeys(OUTPUT_ONLY_SETTINGS, 2), "finetune.lr": 2, "pretrain.compile": "false"}
    assert _differing_settings([a, b]) == [*marked, "finetune.lr", "pretrain.compile"]
    assert set(marked) <= set(SPEED_SETTINGS)
    assert all(OUTPUT_ONLY_SETTINGS.get(key, True) for key in SPEED_SETTINGS)
