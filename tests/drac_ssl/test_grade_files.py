"""``drac_ssl.grading.grade_files`` grades a list of files as ``python -m drac_ssl.export RUN
--images DIR`` does (the same loop), and ``GradedImages.to_records`` makes a table of the result
(a trial user, a clinic data scientist grading from Python, copied docs/python.md's loop by hand:
no call took a list of files, and nothing turned a result into rows).

An untrained demo bundle grades (no run to train); CPU, seconds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from png_bytes import walk_scan as _scan

from drac_ssl import export
from drac_ssl.grading import batch
from drac_ssl.grading import predict as predict_module
from drac_ssl.grading.batch import FileFailure, GradedFiles, grade_files
from drac_ssl.grading.bundle import Bundle, load_bundle
from drac_ssl.grading.predict import grade_images, read_image
from drac_ssl.submission import image_notes_path, read_image_notes, write_submission


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.demo_bundle import build_demo_bundle

    return build_demo_bundle(tmp_path_factory.mktemp("run") / "run", image_size=32, source_size=48,
                             n_folds=2)


@pytest.fixture(scope="module")
def bundle(bundle_dir: Path) -> Bundle:
    return load_bundle(bundle_dir)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Grey scans, a colour photograph (doubted by the grey UW-OCTA model), a mask, a blank
    image and a broken PNG, named so that their natural order is this one."""
    root = tmp_path_factory.mktemp("clinic")
    for i in range(4):
        cv2.imwrite(str(root / f"{i}.png"), _scan(64 + 8 * i, i))
    cv2.imwrite(str(root / "5_colour.png"), np.stack([_scan(64, 10), _scan(64, 11), _scan(64, 12)], -1))
    cv2.imwrite(str(root / "6_mask.png"), (_scan(64, 13) > 128).astype(np.uint8) * 255)
    cv2.imwrite(str(root / "7_blank.png"), np.full((64, 64), 9, np.uint8))
    (root / "8_broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return root


def _files(folder: Path) -> list[Path]:
    return export.list_images(folder)


def test_a_file_that_cannot_be_read_does_not_stop_the_batch(bundle: Bundle, folder: Path, tmp_path: Path) -> None:
    files = [*_files(folder), tmp_path / "gone.png", folder]  # a missing file and a folder too
    calls: list[tuple[int, int]] = []
    result = grade_files(bundle, files, chunk=3, progress=lambda done, total: calls.append((done, total)))
    assert isinstance(result, GradedFiles)
    graded_names = [p.name for p in result.paths]
    assert graded_names == ["0.png", "1.png", "2.png", "3.png", "5_colour.png", "6_mask.png", "7_blank.png"]
    assert result.graded.paths == [str(folder / name) for name in graded_names]
    # every failure: the file, what is wrong and what to do
    assert [f.path for f in result.failed] == [folder / "8_broken.png", tmp_path / "gone.png", folder]
    for failure in result.failed:
        assert isinstance(failure, FileFailure) and failure.error.startswith(f"{failure.path}: ")
        assert " -> " in failure.error, failure.error
        assert failure.as_dict() == {"path": str(failure.path), "name": failure.path.name, "error": failure.error}
    assert "truncated PNG" in result.failed[0].error
    assert "no such image file -> check the path" in result.failed[1].error
    # progress after each chunk of 3, counting the files read (graded or not)
    assert calls == [(3, 10), (6, 10), (9, 10), (10, 10)]
    # the verdict reads what reading said: the colour photograph and the mask are flagged, the
    # blank image is graded and said to be nothing to grade
    verdict = dict(zip(graded_names, result.graded.not_reliably_gradable, strict=True))
    assert verdict["0.png"] == [] and verdict["5_colour.png"] == ["a colour picture, not UW-OCTA"]
    assert verdict["6_mask.png"] == ["a thresholded export or mask"]
    assert verdict["7_blank.png"][0] == predict_module.BLANK_REASON
    assert result.graded.training_image == [None] * 7  # a demo bundle records no training hashes
    assert len(result.notes) == 7


def test_grading_in_chunks_gives_grade_images_figures_on_all_the_images(bundle: Bundle, folder: Path) -> None:
    files = [p for p in _files(folder) if p.name != "8_broken.png"]
    read = [read_image(p, 1, kind=bundle.kind, grey_trained=bundle.grey_trained, bit_depths=bundle.bit_depths)
            for p in files]
    whole = grade_images(bundle, [image for image, _ in read], file_warnings=[s for _, s in read], paths=files)
    for chunk in (1, 4, 32):
        graded = grade_files(bundle, files, chunk=chunk).graded
        np.testing.assert_allclose(graded.probs, whole.probs, rtol=0, atol=1e-6)
        assert graded.classes.tolist() == whole.classes.tolist()
        assert graded.file_warnings == whole.file_warnings
        assert graded.not_reliably_gradable == whole.not_reliably_gradable
        assert graded.paths == whole.paths == [str(p) for p in files]


def test_records_have_fixed_keys_in_order_and_plain_python_values(bundle: Bundle, folder: Path) -> None:
    graded = grade_files(bundle, _files(folder)).graded
    records = graded.to_records()
    k = bundle.calibration.num_grades
    keys = ["path", "name", "grade", "grade_name", *(f"P{j}" for j in range(k)), "score", "not_reliably_gradable",
            "warnings", "training_image"]
    assert len(records) == len(graded.classes) == 7
    for i, record in enumerate(records):
        assert list(record) == keys
        assert isinstance(record["path"], str) and record["name"] == Path(record["path"]).name
        assert type(record["grade"]) is int and record["grade"] == int(graded.classes[i])
        assert record["grade_name"] == bundle.grade_names[record["grade"]]
        probs = [record[f"P{j}"] for j in range(k)]
        assert all(type(p) is float for p in probs) and probs == graded.probs[i].tolist()
        assert record["not_reliably_gradable"] == "; ".join(graded.not_reliably_gradable[i])
        said = [*graded.file_warnings[i], *graded.warnings[i], *graded.preprocessing_warnings[i]]
        assert record["warnings"].splitlines() == said
        assert record["training_image"] is None
    colour = next(r for r in records if r["name"] == "5_colour.png")
    assert colour["not_reliably_gradable"] == "a colour picture, not UW-OCTA" and "UW-OCTA is grey" in colour["warnings"]
    assert json.loads(json.dumps(records)) == records  # JSON-ready
    # other names for the grades; a wrong count is said
    assert graded.to_records(grade_names=["a", "b", "c"])[0]["grade_name"] in ("a", "b", "c")
    with pytest.raises(ValueError, match="2 names for 3 grades"):
        graded.to_records(grade_names=["a", "b"])
    # without paths: the keys stay, the path unknown
    bare = grade_images(bundle, [_scan(64, 1)]).to_records()
    assert list(bare[0]) == keys and bare[0]["path"] is None and bare[0]["name"] is None
    pandas = pytest.importorskip("pandas")  # not a dependency: only the records' shape is tested here
    table = pandas.DataFrame(records)
    assert list(table.columns) == keys and len(table) == 7
    assert str(table["grade"].dtype) == "int64" and all(str(table[f"P{j}"].dtype) == "float64" for j in range(k))


def test_records_of_chunks_joined_keep_paths_and_grade_names(bundle: Bundle, folder: Path) -> None:
    files = _files(folder)[:4]
    read = [read_image(p, 1)[0] for p in files]
    parts = [grade_images(bundle, read[:2], paths=files[:2]), grade_images(bundle, read[2:], paths=files[2:])]
    joined = predict_module.GradedImages.joined(parts)
    assert joined.paths == [str(p) for p in files] and joined.grade_names == tuple(bundle.grade_names)
    assert [r["name"] for r in joined.to_records()] == [p.name for p in files]
    no_paths = predict_module.GradedImages.joined([grade_images(bundle, read[:2]), parts[1]])
    assert no_paths.paths is None


def test_refusing_nothing_to_grade_and_the_exports_own_switches(
        bundle: Bundle, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _files(folder)
    refused = grade_files(bundle, files, refuse_nothing_to_grade=True)
    blank = next(f for f in refused.failed if f.path.name == "7_blank.png")
    assert blank.problems[0].kind == batch.NOT_GRADABLE_KIND
    assert "blank or near-constant" in blank.error and " -> " in blank.error
    assert "7_blank.png" not in [p.name for p in refused.paths]
    calls: list[int] = []
    real = batch.grade_images
    monkeypatch.setattr(batch, "grade_images", lambda *a, **k: calls.append(1) or real(*a, **k))
    # all or nothing (the export without --skip-unreadable): every failure said, nothing kept;
    # the chunks before the first failure were graded (3 of 4 chunks of 2: the broken file is
    # in the last), then dropped
    whole = batch._grade_files_loop(bundle, files, all_or_nothing=True, chunk=2)
    assert [f.path.name for f in whole.failed] == ["8_broken.png"] and len(files) == 8
    assert len(whole.graded.classes) == 0 and whole.graded.paths == [] and whole.notes == []
    assert len(calls) == 3
    # check only: every file read, grade_images never called
    calls.clear()
    checked = batch._grade_files_loop(bundle, files, check_only=True)
    assert calls == [] and [f.path.name for f in checked.failed] == ["8_broken.png"]
    assert checked.graded.probs.shape == (0, bundle.calibration.num_grades)
    # training_images=False: not compared (the export hashes the files itself)
    assert batch._grade_files_loop(bundle, files[:2], training_images=False).graded.training_image is None
    assert calls == [1]


def test_the_exports_switches_are_not_grade_files_arguments(bundle: Bundle, folder: Path) -> None:
    """Review: ``all_or_nothing``, ``check_only`` and ``training_images`` were the export's
    switches in the public call (and ``read_failure`` in ``__all__``)."""
    for switch in ("all_or_nothing", "check_only", "training_images"):
        with pytest.raises(TypeError, match=switch):
            grade_files(bundle, [folder / "0.png"], **{switch: True})  # type: ignore[arg-type]
    assert "read_failure" not in batch.__all__ and not hasattr(batch, "read_failure")


def test_wrong_calls_are_said(bundle: Bundle, folder: Path) -> None:
    with pytest.raises(TypeError, match=r"a list of image files.*pass \["):
        grade_files(bundle, str(folder / "0.png"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"a list of image files"):
        grade_files(bundle, folder)  # type: ignore[arg-type]
    for chunk in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="chunk must be a positive integer"):
            grade_files(bundle, [folder / "0.png"], chunk=chunk)  # type: ignore[arg-type]
    for progress in (1, "yes", 0.5):  # truthy but not True, not callable: was silently ignored
        with pytest.raises(TypeError, match=r"progress must be None, False, True \(a bar\) or a function"):
            grade_files(bundle, [folder / "0.png"], progress=progress)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tta must be None, True or False"):
        grade_files(bundle, [folder / "0.png"], tta="no")  # type: ignore[arg-type]
    empty = grade_files(bundle, [])
    assert empty.failed == [] and len(empty.graded.classes) == 0 and empty.graded.to_records() == []
    shown = grade_files(bundle, [folder / "0.png"], progress=True)  # a tqdm.auto bar: closed, no error
    assert len(shown.graded.classes) == 1


def test_the_export_command_writes_what_grade_files_gives(
        bundle_dir: Path, bundle: Bundle, folder: Path, tmp_path: Path) -> None:
    """The command line and the Python call are one loop: the CSV the command writes is the one
    ``write_submission`` writes of ``grade_files``' result (byte for byte), and the notes file's
    verdicts are the records'."""
    out = tmp_path / "grades.csv"
    assert export.main([str(bundle_dir), "--images", str(folder), "--out", str(out), "--skip-unreadable"]) \
        == export.EXIT_SKIPPED
    result = grade_files(bundle, export.list_images(folder), refuse_nothing_to_grade=True)
    mine = tmp_path / "mine.csv"
    write_submission(mine, [p.name for p in result.paths], result.graded.probs, result.graded.classes,
                     num_grades=bundle.calibration.num_grades)
    assert out.read_bytes() == mine.read_bytes()
    records = {r["name"]: r for r in result.graded.to_records()}
    notes = read_image_notes(image_notes_path(out))
    assert notes, "the colour photograph and the mask are flagged: a notes file is written"
    for case, (reasons, _) in notes.items():
        assert reasons == records[case]["not_reliably_gradable"], case
    skipped = json.loads(out.with_name("grades.skipped.json").read_text(encoding="utf-8"))["skipped"]
    assert sorted(s["file"] for s in skipped) == sorted(f.path.name for f in result.failed)
    with open(out, newline="", encoding="utf-8") as fh:
        assert [row["case"] for row in csv.DictReader(fh)] == list(records)


def test_a_file_gone_since_the_folder_was_listed_is_said_in_the_folders_words(
        bundle_dir: Path, bundle: Bundle, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Review F6: the export kept its own copy of the loop's reading-failure words (three of its
    four cases the same); the loop now says a file gone since the listing in the folder's words
    (``listed``), and the export takes the loop's failures as they are."""
    gone, link = tmp_path / "gone.png", tmp_path / "link.png"
    link.symlink_to(tmp_path / "moved.png")
    by_hand = grade_files(bundle, [gone, link]).failed
    assert by_hand[0].error == f"{gone}: no such image file -> check the path"
    assert by_hand[1].error.endswith("-> point the link at the image, or give the image file's own path")
    listed = batch._grade_files_loop(bundle, [gone, link], listed=True).failed
    assert listed[0].error == (f"{gone}: the file is gone (moved or deleted while the folder was read) -> "
                               f"put it back, or grade the folder again")
    assert listed[1].error == (f"{link}: broken symbolic link (points to {tmp_path / 'moved.png'}, which does "
                               f"not exist) -> point the link at the image, or remove it")
    assert not hasattr(export, "_unreadable")
    # the command: a file moved away between the listing and its reading
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("0.png", "1.png"):
        (copy / name).write_bytes((folder / name).read_bytes())
    real = batch.read_image

    def moved_first(path: Path, *args: object, **kwargs: object) -> object:
        if Path(path).name == "1.png":
            Path(path).unlink()
        return real(path, *args, **kwargs)

    monkeypatch.setattr(batch, "read_image", moved_first)
    capsys.readouterr()
    assert export.main([str(bundle_dir), "--images", str(copy), "--out", str(tmp_path / "g.csv")]) == 2
    err = capsys.readouterr().err
    assert (f"{copy / '1.png'}: the file is gone (moved or deleted while the folder was read) -> put it back, "
            f"or grade the folder again") in err, err


def _reaches(root: object, kinds: tuple[type, ...], limit: int = 100_000) -> list[object]:
    """The objects of ``kinds`` reachable from ``root`` by references (classes, modules and
    functions not followed: they reach the whole program)."""
    import gc
    import types

    stop = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)
    seen, found, todo = {id(root)}, [], [root]
    while todo and len(seen) < limit:
        for ref in gc.get_referents(todo.pop()):
            if id(ref) in seen or isinstance(ref, stop):
                continue
            seen.add(id(ref))
            if isinstance(ref, kinds):
                found.append(ref)
            todo.append(ref)
    return found


def test_a_failure_keeps_no_traceback_nor_the_files_bytes(bundle: Bundle, tmp_path: Path) -> None:
    """Review F1: each failure kept read_image's exception, whose traceback kept the decoder's
    locals (the file's bytes) alive: 8 truncated 30 MiB PNGs left 220 MiB allocated after
    grade_files returned. A failure is now its words alone."""
    import tracemalloc
    import types

    noise = np.random.default_rng(0).integers(0, 256, (1024, 2048), dtype=np.uint8)
    whole = cv2.imencode(".png", noise)[1].tobytes()  # about 2 MiB: noise does not compress
    files = []
    for i in range(4):
        (path := tmp_path / f"cut_{i}.png").write_bytes(whole[: len(whole) * 3 // 4])
        files.append(path)
    grade_files(bundle, files[:1])  # imports and caches before the count
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = grade_files(bundle, files)
        import gc

        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert [f.path for f in result.failed] == files and all("truncated PNG" in f.error for f in result.failed)
    assert not _reaches(result, (BaseException, types.TracebackType, types.FrameType))
    held = 4 * len(whole) * 3 // 4
    assert kept < held / 8, f"{kept} bytes still allocated after grading, of {held} bytes of files read"


def test_notes_are_words_as_file_warnings_are_and_in_the_records(bundle: Bundle, folder: Path,
                                                                   tmp_path: Path) -> None:
    """Review F7: ``notes`` were ``NAME: WORDS`` where ``graded.file_warnings`` are the words
    alone, and no record held them."""
    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), _scan(64, 5).astype(np.uint16) * 200)  # 16-bit: a plain note of its conversion
    result = grade_files(bundle, [folder / "0.png", deep])
    assert result.notes[0] == [] and len(result.notes[1]) == 1
    assert result.notes[1][0].startswith("16-bit image converted to 8-bit") and "deep.png" not in result.notes[1][0]
    noted: list[str] = []
    read_image(deep, 1, notes=noted)
    assert [f"deep.png: {words}" for words in result.notes[1]] == noted  # the export puts the name back
    records = result.to_records()
    plain = result.graded.to_records()
    keys = list(plain[0])
    assert list(records[0]) == [*keys[:keys.index("warnings") + 1], "notes", *keys[keys.index("warnings") + 1:]]
    assert records[0]["notes"] == "" and records[1]["notes"].splitlines() == result.notes[1]
    assert [{k: v for k, v in r.items() if k != "notes"} for r in records] == plain
    assert json.loads(json.dumps(records)) == records


def test_joining_results_of_bundles_naming_the_grades_differently_is_refused(bundle: Bundle) -> None:
    """Review F7: ``GradedImages.joined`` took the first part's grade names unchecked."""
    part = grade_images(bundle, [_scan(64, 1)])
    other = grade_images(bundle, [_scan(64, 2)])
    other.grade_names = ("a", "b", "c")
    with pytest.raises(ValueError, match=r"name the grades differently \(.* vs \['a', 'b', 'c'\]\)"):
        predict_module.GradedImages.joined([part, other])
    by_hand = grade_images(bundle, [_scan(64, 3)])
    by_hand.grade_names = None  # a result built by hand: not known, not a disagreement
    assert predict_module.GradedImages.joined([by_hand, part]).grade_names == tuple(bundle.grade_names)


def test_grade_folder_says_a_missing_folder_does_not_exist(bundle: Bundle, tmp_path: Path) -> None:
    """A path that is not there was "not a folder" (NotADirectoryError), as if it were a file;
    it is a FileNotFoundError that says it does not exist. A file is still NotADirectoryError."""
    from drac_ssl.grading.batch import grade_folder

    with pytest.raises(FileNotFoundError, match=r"nodir: the folder does not exist -> check the path"):
        grade_folder(bundle, tmp_path / "nodir")
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        grade_folder(bundle, tmp_path / "a.png")
