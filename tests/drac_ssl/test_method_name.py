"""The self-supervised method's name has one source, ``drac_ssl.PRETRAIN_METHOD``: the words
people read (report.md, the model card, the comparison, the collapse warnings, the console,
the pretraining plot) take it from there, so that a second method (docs/design.md, "Adding a
self-supervised method") is not called VICReg by a module nobody thought of."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import drac_ssl

REPO = Path(__file__).resolve().parents[2]
SCANNED = ("drac_ssl", "app", "data_prep")
SOURCE = "drac_ssl/__init__.py"  # PRETRAIN_METHOD = "VICReg"

VICREG_LOSS_TEXTS = {
    ("drac_ssl/collapse.py", "VICReg variance term "): "VICReg's variance term, read only when recorded",
    ("drac_ssl/preflight.py", "VICReg's expander normalises"): "a check of pretrain.loss (VICReg's)",
    ("drac_ssl/preflight.py", "all three VICReg coefficients"): "a check of pretrain.loss (VICReg's)",
    ("drac_ssl/preflight.py", "with VICReg's loss"): "UMM's loss is VICReg's (design.md step 4)",
    ("drac_ssl/report.py", "outer objective, JS and VICReg terms"): "the caption of UMM's plot of VICReg's terms",
    ("drac_ssl/report.py", "objective and its JS and VICReg terms"): "the alt text of UMM's plot of VICReg's terms",
    ("drac_ssl/umm/stage.py", "VICReg's variance needs it"):
        "UMM re-tunes with VICReg's loss, whatever pretrained the model (design.md step 4)",
    ("drac_ssl/umm/plots.py", "JS and VICReg terms"): "UMM's plot of VICReg's terms (design.md step 4)",
}
"""The texts about VICReg's loss (its terms, its settings, UMM's loss), not about the method that
pretrained a backbone, which may name it: (module, a piece of one text), with the reason. Each
entry allows one text, not its module: a second text the piece matches fails the check below."""


def _docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, kinds) and node.body and isinstance(node.body[0], ast.Expr) \
                and isinstance(node.body[0].value, ast.Constant):
            found.add(id(node.body[0].value))
    # an attribute's docstring: a string statement right after an assignment
    for node in ast.walk(tree):
        for body in (getattr(node, "body", None), getattr(node, "orelse", None)):
            if isinstance(body, list):
                for before, after in zip(body, body[1:], strict=False):
                    if isinstance(before, (ast.Assign, ast.AnnAssign)) and isinstance(after, ast.Expr) \
                            and isinstance(after.value, ast.Constant):
                        found.add(id(after.value))
    return found


def _texts_naming_vicreg(path: Path) -> list[tuple[int, str]]:
    """Each string literal of ``path`` (an f-string's literal parts too) that names VICReg in
    words, with its line: docstrings and comments are left out (they describe the code), and so
    are Python names such as ``"VICRegLoss"`` in ``__all__``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    docs = _docstrings(tree)
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "VICReg" in node.value
            and id(node) not in docs and not re.fullmatch(r"VICReg\w+", node.value)]


def test_no_module_writes_the_method_name_itself() -> None:
    found = []
    for folder in SCANNED:
        for path in sorted((REPO / folder).rglob("*.py")):
            module = path.relative_to(REPO).as_posix()
            for line, text in _texts_naming_vicreg(path):
                if module == SOURCE and text == drac_ssl.PRETRAIN_METHOD:  # the one source
                    continue
                if not any(m == module and piece in text for m, piece in VICREG_LOSS_TEXTS):
                    found.append(f"{module}:{line}: {text[:90]!r}")
    assert not found, (
        "these texts name VICReg themselves:\n  " + "\n  ".join(found)
        + "\nfix: write {PRETRAIN_METHOD} (from drac_ssl import PRETRAIN_METHOD), the one source of the "
          "method's name, so that a second method is not called VICReg there; a text about VICReg's "
          "loss itself (its terms or settings) goes into VICREG_LOSS_TEXTS of "
          "tests/drac_ssl/test_method_name.py with the reason, and into docs/design.md's checklist "
          "(\"Adding a self-supervised method\")")


def test_the_allowed_texts_are_still_there() -> None:
    """An entry whose text has gone would silently allow a new one, and one matching two texts
    allows the second unread: each matches exactly one text of its module."""
    for module, piece in VICREG_LOSS_TEXTS:
        lines = [line for line, text in _texts_naming_vicreg(REPO / module) if piece in text]
        assert lines, f"{module} no longer has {piece!r}: drop it from VICREG_LOSS_TEXTS"
        assert len(lines) == 1, (f"{module}: {piece!r} matches the texts of lines {lines}: give each text "
                                 "about VICReg's loss its own entry, with a piece only it has")


def _assigned(tree: ast.Module, name: str) -> ast.expr:
    """The value a module-level ``name = ...`` (or ``name: T = ...``) assigns."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name \
                and node.value is not None:
            return node.value
    raise AssertionError(f"no module-level assignment to {name}")


def _dict_value(node: ast.expr, key: str) -> ast.expr:
    assert isinstance(node, ast.Dict), f"a dict literal expected, got {ast.dump(node)[:80]}"
    for k, v in zip(node.keys, node.values, strict=True):
        if isinstance(k, ast.Constant) and k.value == key:
            return v
    raise AssertionError(f"no key {key!r}")


def _reads_the_constant(node: ast.expr) -> bool:
    """``PRETRAIN_METHOD`` or ``drac_ssl.PRETRAIN_METHOD``, not a string that happens to equal it."""
    return (isinstance(node, ast.Name) and node.id == "PRETRAIN_METHOD") or (
        isinstance(node, ast.Attribute) and node.attr == "PRETRAIN_METHOD"
        and isinstance(node.value, ast.Name) and node.value.id == "drac_ssl")


def _takes_the_constant(node: ast.expr) -> bool:
    """The name itself (:func:`_reads_the_constant`) or an f-string with it in a ``{...}``."""
    return _reads_the_constant(node) or (isinstance(node, ast.JoinedStr) and any(
        isinstance(part, ast.FormattedValue) and _reads_the_constant(part.value) for part in node.values))


# (module, the module-level name, the dict key or None for the name itself): titles that are the name
TITLES_FROM_THE_CONSTANT = (
    ("drac_ssl/collapse.py", "SSL_STAGE_TITLES", "pretrain"),
    ("drac_ssl/grading/model_card.py", "VARIANT_TITLES", "vicreg"),
    ("drac_ssl/grading/model_card.py", "VARIANT_TITLES", "vicreg_umm"),
    ("drac_ssl/pretrain.py", "LOSS_NAME", None),
)


def test_the_words_people_read_take_the_name_from_the_one_source() -> None:
    from drac_ssl import collapse, pretrain
    from drac_ssl.grading import bundle

    assert drac_ssl.PRETRAIN_METHOD == "VICReg"
    assert collapse.SSL_STAGE_TITLES["pretrain"] == drac_ssl.PRETRAIN_METHOD
    assert bundle.VARIANT_TITLES["vicreg"] == drac_ssl.PRETRAIN_METHOD
    assert bundle.VARIANT_TITLES["vicreg_umm"] == f"{drac_ssl.PRETRAIN_METHOD} + UMM"
    assert pretrain.LOSS_NAME == drac_ssl.PRETRAIN_METHOD
    # equal values are not enough (CPython interns equal literals, so even `is` passes on
    # "VICReg"): the source of each title must read the constant
    for module, name, key in TITLES_FROM_THE_CONSTANT:
        value = _assigned(ast.parse((REPO / module).read_text(encoding="utf-8")), name)
        if key is not None:
            value = _dict_value(value, key)
        where = f"{module}:{value.lineno}: {name}" + (f"[{key!r}]" if key else "")
        assert _takes_the_constant(value), (
            f"{where} is {ast.unparse(value)}, not read from drac_ssl.PRETRAIN_METHOD: write "
            "PRETRAIN_METHOD (from drac_ssl import PRETRAIN_METHOD) so a second method is not called VICReg")
    # each module that writes the name reads the constant (its texts are checked above)
    for module in ("drac_ssl/collapse.py", "drac_ssl/compare.py", "drac_ssl/report.py", "drac_ssl/train.py",
                   "drac_ssl/grading/model_card.py", "drac_ssl/grading/training_images.py", "drac_ssl/pretrain.py",
                   "drac_ssl/preflight.py", "drac_ssl/umm/source.py", "drac_ssl/trial_run.py"):
        text = (REPO / module).read_text(encoding="utf-8")
        assert re.search(r"^from drac_ssl import .*\bPRETRAIN_METHOD\b", text, re.M), module


def _names_bound_to_the_constant(tree: ast.Module) -> tuple[set[str], set[str]]:
    """The names a module reads ``PRETRAIN_METHOD`` by: itself and each alias it is imported
    as (``from drac_ssl import PRETRAIN_METHOD as METHOD``), and the names ``drac_ssl`` is
    imported as (``import drac_ssl as ds``: ``ds.PRETRAIN_METHOD``)."""
    names, packages = {"PRETRAIN_METHOD"}, {"drac_ssl"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "drac_ssl":
            names |= {alias.asname for alias in node.names if alias.name == "PRETRAIN_METHOD" and alias.asname}
        elif isinstance(node, ast.Import):
            packages |= {alias.asname for alias in node.names if alias.name == "drac_ssl" and alias.asname}
    return names, packages


def _imports_the_constant(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.ImportFrom) and node.module == "drac_ssl"
               and any(alias.name == "PRETRAIN_METHOD" for alias in node.names) for node in ast.walk(tree))


def _import_time_reads(tree: ast.Module) -> list[tuple[int, str | None]]:
    """``(line, module-level name)`` of each read of ``PRETRAIN_METHOD`` (under any name it is
    imported as: :func:`_names_bound_to_the_constant`) evaluated when the module is imported
    (a module-level assignment, a class body, a default argument or a decorator; not a
    function's body), named by the statement's target: a value frozen then. The name is None
    for other module-level code (an ``if``, a call, a loop): it freezes nothing by a name."""
    names, packages = _names_bound_to_the_constant(tree)
    found: list[tuple[int, str | None]] = []

    def reads(node: ast.AST) -> bool:
        return (isinstance(node, ast.Name) and node.id in names) or (
            isinstance(node, ast.Attribute) and node.attr == "PRETRAIN_METHOD"
            and isinstance(node.value, ast.Name) and node.value.id in packages)

    def visit(node: ast.AST, top: str | None) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            parts: list[ast.AST] = [*node.decorator_list, *node.args.defaults,
                                    *(d for d in node.args.kw_defaults if d is not None)]
        elif isinstance(node, ast.Lambda):
            parts = [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
        else:
            if reads(node):
                found.append((getattr(node, "lineno", 0), top))
            parts = list(ast.iter_child_nodes(node))
        for part in parts:
            visit(part, top)

    for statement in tree.body:
        top: str | None = None
        if isinstance(statement, ast.Assign):
            top = ", ".join(ast.unparse(t) for t in statement.targets)
        elif isinstance(statement, (ast.AnnAssign, ast.AugAssign)):
            top = ast.unparse(statement.target)
        elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            top = statement.name
        visit(statement, top)
    return found


def _step_six_problems(step: str, importing: list[str], frozen: set[str], unnamed: list[str]) -> list[str]:
    """What docs/design.md's step 6 (``step``, its words on one line) gets wrong about the code:
    its sentence "N modules import it by value ..." must give the count and name each module
    of ``importing``, its sentence "M module-level names freeze it ..." the count and each name
    of ``frozen``, each inside that one sentence (a name elsewhere in the step does not list
    it); ``unnamed`` (``file:line``) is module-level code that reads the name at import, which
    no name of step 6 can list."""
    sentences = re.split(r"(?<=\.)\s+(?=[A-Z0-9`])", step)
    problems = [f"module-level code at {where} reads PRETRAIN_METHOD at import, under no name step 6 "
                f"could list; fix: move it into a function, or assign it to a module-level name and list "
                f"that in docs/design.md step 6" for where in unnamed]
    for things, words in ((importing, "modules import it by value"), (sorted(frozen), "module-level names freeze it")):
        found = [sentence for sentence in sentences if words in sentence]
        if len(found) != 1:
            problems.append(f"docs/design.md step 6: {len(found)} sentences say '{words}', not one")
            continue
        if f"{len(things)} {words}" not in found[0]:
            problems.append(f"docs/design.md step 6 does not say '{len(things)} {words}'")
        problems += [f"docs/design.md step 6's sentence '... {words} ...' does not name `{thing}`"
                     for thing in things if f"`{thing}`" not in found[0]]
    return problems


def test_the_checklist_names_every_module_that_holds_the_method_name_by_value() -> None:
    """A contributor adding Barlow Twins read step 6 of docs/design.md's checklist ("make it a
    look-up ... and these follow"), but PRETRAIN_METHOD is imported by value, and some modules
    freeze it into module-level tables at import: a look-up changes none of them. Step 6 names
    how many modules import it by value, each of them, and each module-level name that freezes
    it, as the code has them."""
    importing, frozen, unnamed = [], set(), []
    for folder in SCANNED:
        for path in sorted((REPO / folder).rglob("*.py")):
            module = path.relative_to(REPO).as_posix()
            text = path.read_text(encoding="utf-8")
            if module == SOURCE or "PRETRAIN_METHOD" not in text:  # parse only those that name it
                continue
            tree = ast.parse(text, module)
            if _imports_the_constant(tree):
                importing.append(module)
            for line, name in _import_time_reads(tree):
                if name is None:
                    unnamed.append(f"{module}:{line}")
                else:
                    frozen.add(name)
    design = (REPO / "docs" / "design.md").read_text(encoding="utf-8")
    step = " ".join(design.split("6. **The method's name in words.**", 1)[1].split("\n7. **", 1)[0].split())
    assert importing and frozen  # the scan finds what it looks for
    problems = _step_six_problems(step, importing, frozen, unnamed)
    assert not problems, "\n".join(problems)


def test_the_checklist_check_reads_aliases_list_sentences_and_unnamed_code() -> None:
    """The step-6 check missed a read under an alias (``from drac_ssl import PRETRAIN_METHOD as
    METHOD``), took a module named anywhere in step 6 as listed, and demanded the node type's
    name (``If``) in design.md for module-level code that freezes no name."""
    tree = ast.parse("from drac_ssl import PRETRAIN_METHOD as METHOD\nimport drac_ssl as ds\n"
                     "TITLE = f'{METHOD} loss'\nOTHER = ds.PRETRAIN_METHOD\n"
                     "if METHOD:\n    pass\ndef f(x=METHOD):\n    return METHOD\n")
    assert _import_time_reads(tree) == [(3, "TITLE"), (4, "OTHER"), (5, None), (7, "f")]
    step = ("2 modules import it by value: `a.py`, `b.py`. 1 module-level names freeze it: `TITLE`. "
            "Also `c.py` and `OTHER` are named here.")
    assert _step_six_problems(step, ["a.py", "b.py"], {"TITLE"}, []) == []
    problems = _step_six_problems(step, ["a.py", "c.py"], {"TITLE", "OTHER"}, ["m.py:5"])
    assert problems[0].startswith("module-level code at m.py:5 reads PRETRAIN_METHOD at import"), problems
    assert problems[1:] == ["docs/design.md step 6's sentence '... modules import it by value ...' does not name `c.py`",
                            "docs/design.md step 6 does not say '2 module-level names freeze it'",
                            "docs/design.md step 6's sentence '... module-level names freeze it ...' does not "
                            "name `OTHER`"], problems
