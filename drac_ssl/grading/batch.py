"""Grading a list of image files: each file read by the app's rule, the readable ones graded in
chunks, every file that cannot be graded listed with why and what to do, a progress bar.

:func:`grade_files` is the loop of ``python -m drac_ssl.export RUN --images DIR``
(:func:`drac_ssl.export._predict_folder` calls it), for a script or notebook that grades its own
list of files: a trial user copied docs/python.md's ``read_image`` loop by hand, and the export's
per-file errors, chunks and progress were the command's alone.

* :func:`grade_files`: ``paths`` -> :class:`GradedFiles` (the graded images, with their
  paths, and the files not graded, :class:`FileFailure`);
* :func:`grade_folder`: a folder -> :class:`GradedFolder`, its files listed by the rules of
  ``python -m drac_ssl.export --images DIR`` (the same files graded, the same refused, each
  record with its ``stem``, a Kaggle ``id_code``);
* :func:`nothing_to_grade_problem`: why a blank image or random noise is not graded when
  asked (``refuse_nothing_to_grade``, the export's ``--skip-unreadable``), as the app refuses it.

Nothing here prints: the export command says what it has to say from the result.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from data_prep.problems import Problem
from drac_ssl.grading.image_file import LOCAL_FILE_LIMITS, InputLimits, path_refusal
from drac_ssl.grading.predict import (
    GradedImages,
    ImageReadError,
    grade_images,
    grade_prepared,
    nothing_to_grade,
    read_image,
    training_image_flags,
)

if TYPE_CHECKING:
    from drac_ssl.grading.bundle import Bundle

__all__ = ["FILE_CHUNK", "NOT_GRADABLE_KIND", "FileFailure", "GradedFiles", "GradedFolder", "grade_files",
           "grade_folder", "nothing_to_grade_problem", "blank_range_words"]

FILE_CHUNK = 32
"""Files read and graded at a time by :func:`grade_files` (and the export command): one
:func:`~drac_ssl.grading.predict.grade_images` call holds the decoded images of one chunk, so a
long list is graded in bounded memory (a 1024 px grey scan is 1 MiB decoded; docs/python.md's
memory figures)."""

NOT_GRADABLE_KIND = "nothing-to-grade"
"""The :class:`data_prep.problems.Problem` kind of an image not graded (with
``refuse_nothing_to_grade``, the export's ``--skip-unreadable``) for having nothing to grade
(blank, random noise: :func:`nothing_to_grade_problem`)."""


@dataclass(frozen=True)
class FileFailure:
    """A file :func:`grade_files` did not grade. ``path``: the file, as given (a
    :class:`~pathlib.Path`); ``error``: ``PATH: what is wrong -> what to do`` (several such
    lines joined by "; " when the decoder found several things); ``problems``: the same one by
    one (:class:`data_prep.problems.Problem`: ``path``, ``what``, ``fix``, ``kind``). Words
    alone: the exception :func:`~drac_ssl.grading.predict.read_image` raised is not kept, as
    its traceback would keep the decoder's locals alive (the file's bytes: review, 8 truncated
    30 MiB PNGs held 220 MiB after the call returned)."""

    path: Path
    error: str
    problems: tuple[Problem, ...] = ()

    def as_dict(self) -> dict[str, str]:
        """``{"path", "name", "error"}``, strings: a row of ``pandas.DataFrame`` or JSON."""
        return {"path": os.fspath(self.path), "name": self.path.name, "error": self.error}


@dataclass
class GradedFiles:
    """:func:`grade_files`' result. ``graded``: the files graded, in the order given
    (:class:`~drac_ssl.grading.predict.GradedImages`, whose ``paths`` are those files and whose
    ``file_warnings`` are what reading each said, so :attr:`GradedImages.not_reliably_gradable`
    is the export's verdict; :meth:`GradedImages.to_records` a table); ``failed``: the files
    not graded, in the order given (:class:`FileFailure`: path, error); ``notes``: per graded
    file, the plain notes of reading it (:func:`~drac_ssl.grading.predict.read_image`'s
    ``notes``: a 16-bit file converted by the ingest's rule, an Exif orientation applied ...:
    facts, no doubt), as ``graded.file_warnings`` holds the doubts: the words alone, each
    ``NAME: `` removed (the file is ``graded.paths[i]``). :meth:`to_records` gives both."""

    graded: GradedImages
    failed: list[FileFailure] = field(default_factory=list)
    notes: list[list[str]] = field(default_factory=list)

    @property
    def paths(self) -> list[Path]:
        """The graded files, in order (:attr:`GradedImages.paths` as paths)."""
        return [Path(p) for p in self.graded.paths or []]

    def to_records(self, grade_names: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """One flat, JSON-ready dict per graded file, in order: those of
        :meth:`GradedImages.to_records` (``grade_names`` as there) with ``notes`` after
        ``warnings``: :attr:`notes`' plain notes of reading the file, one a line, joined by
        "\\n" ("" for none), as ``warnings`` holds the doubts. The files not graded are
        :attr:`failed` (:meth:`FileFailure.as_dict`)."""
        records = self.graded.to_records(grade_names)
        notes = self.notes or [[] for _ in records]
        rows: list[dict[str, Any]] = []
        for record, noted in zip(records, notes, strict=True):
            row: dict[str, Any] = {}
            for key, value in record.items():
                row[key] = value
                if key == "warnings":
                    row["notes"] = "\n".join(noted)
            rows.append(row)
        return rows


@dataclass
class GradedFolder(GradedFiles):
    """:func:`grade_folder`'s result: a :class:`GradedFiles` of the folder's images (``graded``
    in the export's order, natural: ``2.png`` before ``10.png``; ``failed``, by file name, every
    file of the folder that ``python -m drac_ssl.export --images`` does not grade: a file holding
    an image not named as one (``x.webp``, ``scan.dat``), a name that cannot be a case, a file
    that cannot be read), with ``folder`` (the folder graded) and ``left_out``: the folder's
    other entries, none a case, each ``(path, why)``: files holding no image (``notes.txt``),
    sub-folders (not searched), hidden and system files (``.DS_Store``)."""

    folder: Path = field(default_factory=Path)
    left_out: list[tuple[Path, str]] = field(default_factory=list)

    def to_records(self, grade_names: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """:meth:`GradedFiles.to_records` with ``stem`` after ``name``: the file name without
        its extension (``0a1b2c.png`` -> ``0a1b2c``), a Kaggle submission's ``id_code``. Two
        graded files of one stem (``dup.jpeg``, ``dup.tif``) cannot both be that id (the
        export's ``--format kaggle`` refuses such a folder): their ``stem`` is None and their
        ``notes`` say why and the fix (rename one), so a table written from the records has no
        two rows of one id; their grades are kept (each file's whole name is still its own)."""
        records = super().to_records(grade_names)
        stems = [None if r.get("name") is None else Path(r["name"]).stem for r in records]
        clashing: dict[str, list[str]] = {}
        for record, stem in zip(records, stems, strict=True):
            if stem is not None:
                clashing.setdefault(stem, []).append(str(record["name"]))
        rows: list[dict[str, Any]] = []
        for record, stem in zip(records, stems, strict=True):
            others = [n for n in clashing.get(stem, []) if n != record["name"]] if stem is not None else []
            row: dict[str, Any] = {}
            for key, value in record.items():
                row[key] = value
                if key == "name":
                    row["stem"] = None if others else stem
            if others:
                said = (f"its stem '{stem}' is also {', '.join(others)}'s: no Kaggle id_code on its own "
                        f"(stem None) -> rename one of them")
                row["notes"] = "\n".join(n for n in (row.get("notes") or "", said) if n)
            rows.append(row)
        return rows


def _read_failure(path: str | os.PathLike[str], exc: Exception, listed: bool = False) -> FileFailure:
    """Why the file ``path`` is not graded, for the exception ``exc``
    :func:`~drac_ssl.grading.predict.read_image` raised: an
    :class:`~drac_ssl.grading.predict.ImageReadError`'s problems (each ``PATH: what -> fix``);
    read_image's own FileNotFoundError / IsADirectoryError (``PATH: what -> fix``: no such file,
    a broken link, a folder); any other OSError (no permission, an I/O error) as ``cannot be
    opened (...) -> check that the file is readable``; any other ValueError in its words, with
    the export's fix (re-copy or re-export the image).

    ``listed``: the file was listed from a folder moments before (the export's ``--images DIR``),
    so a FileNotFoundError is said in the folder's words: a broken symbolic link (``point the
    link at the image, or remove it``), else ``the file is gone (moved or deleted while the
    folder was read) -> put it back, or grade the folder again``; and read_image's words of a
    path given by hand (``check the path``) are not used."""
    p = Path(path)
    if isinstance(exc, ImageReadError) and exc.problems:
        problems = [problem.at(p) for problem in exc.problems]
    elif listed and isinstance(exc, FileNotFoundError):
        refused = path_refusal(p)
        problems = [Problem(str(p), refused.what.removeprefix("is a "), "point the link at the image, or remove it")
                    if refused is not None and refused.kind == "broken-link" else
                    Problem(str(p), "the file is gone (moved or deleted while the folder was read)",
                            "put it back, or grade the folder again")]
    elif not listed and isinstance(exc, OSError) and exc.errno is None and str(exc).startswith(f"{p}: "):
        what = str(exc).removeprefix(f"{p}: ")  # read_image's own words: "no such image file -> ..."
        what, _, fix = what.partition(" -> ")
        problems = [Problem(str(p), what, fix or ("give the image files in it, e.g. sorted(Path(folder).glob("
                                                  "'*.png'))" if isinstance(exc, IsADirectoryError)
                                                  else "give an image file"))]
    elif isinstance(exc, OSError):
        problems = [Problem(str(p), f"cannot be opened ({exc.strerror or exc})",
                            "check that the file is readable (permissions, a network drive)")]
    else:
        problems = [Problem(str(p), str(exc).removeprefix(f"{p}: "), "re-copy or re-export the image")]
    return FileFailure(p, "; ".join(problem.line for problem in problems), tuple(problems))


def blank_range_words(pixels: np.ndarray) -> str:
    """The values a blank image holds, in the app's words (:func:`app.inputs.refusal`): ``grey
    levels a..b, std s`` for grey uint8 ``(H, W)``; for RGB ``(H, W, 3)`` ``pixel values a..b``,
    or per channel when its channels differ (``pixel values: red 128..128, green 0..0, blue
    0..0``), with the std of the channels' mean, the figure :func:`data_prep.validate.is_blank`
    tests (a QA test, F4: a 1x1 red pixel read "pixel values 0..128, std 60.3", the spread
    between its channels, not in the picture)."""
    if pixels.ndim == 2:
        return f"grey levels {int(pixels.min())}..{int(pixels.max())}, std {float(pixels.std()):.1f}"
    flat = pixels.reshape(-1, pixels.shape[-1])
    lows, highs = flat.min(axis=0).tolist(), flat.max(axis=0).tolist()
    std = float(flat.mean(axis=1).std())
    if len(set(lows)) > 1 or len(set(highs)) > 1:
        spans = ", ".join(f"{name} {int(lo)}..{int(hi)}" for name, lo, hi in
                          zip(("red", "green", "blue"), lows, highs, strict=False))
        return f"pixel values: {spans}, std {std:.1f}"
    return f"pixel values {int(lows[0])}..{int(highs[0])}, std {std:.1f}"


def nothing_to_grade_problem(path: str | os.PathLike[str], pixels: np.ndarray) -> Problem | None:
    """Why the image read from ``path`` (uint8 ``(H, W)`` or ``(H, W, 3)``, in the model's
    channels) is not graded when blank images and noise are refused as the app refuses them
    (:func:`drac_ssl.grading.predict.nothing_to_grade`, the app's rule; ``grade_files(...,
    refuse_nothing_to_grade=True)``, the export's ``--skip-unreadable``): a blank or
    near-constant image, or random noise, as a :class:`data_prep.problems.Problem` of kind
    :data:`NOT_GRADABLE_KIND`; None for an image with something to grade."""
    from data_prep.decode import channels_differ
    from data_prep.validate import NOISE_CORRELATION, NOISE_MEASURED, few_levels
    from drac_ssl.grading.image_notes import dithered_words, few_levels_warning

    blank, noise = nothing_to_grade(pixels)
    if blank:
        return Problem(str(path), f"blank or near-constant ({blank_range_words(pixels)}): there is "
                                  f"nothing to grade (the app refuses it too)",
                       "use the image itself, not an empty export or a mask, or move it out of the folder",
                       kind=NOT_GRADABLE_KIND)
    # a dithered 1-bit export: no damage (the app's words); a grey picture in a colour model's
    # three identical channels has grey levels, as the app says them
    grey = pixels if pixels.ndim == 2 or channels_differ(pixels) else pixels[..., 0]
    if noise and (few := few_levels(grey)):
        levels = few_levels_warning(few).split(":", 1)[0].removeprefix("Only ")
        return Problem(str(path), f"only {levels}, and its neighbouring pixels are unrelated "
                                  f"(adjacent-pixel correlation at or below {NOISE_CORRELATION}): "
                                  f"{dithered_words(few)}, with nothing to grade (the app "
                                  f"refuses it too)",
                       "grade the original image, or move it out of the folder", kind=NOT_GRADABLE_KIND)
    if noise:
        return Problem(str(path), f"looks like random noise: its neighbouring pixels are unrelated "
                                  f"(adjacent-pixel correlation at or below {NOISE_CORRELATION}, on 2 x 2 "
                                  f"and 4 x 4 block means too; {NOISE_MEASURED}): there is nothing to "
                                  f"grade (the app refuses it too)",
                       "if it should be a real image, it is damaged: copy or export it again",
                       kind=NOT_GRADABLE_KIND)
    return None


ProgressCallback = Callable[[int, int], Any]
"""``progress(done, total)``: called after each chunk, ``done`` the files of ``total`` read
(graded or failed) so far."""


def grade_files(bundle: Bundle, paths: Sequence[str | os.PathLike[str]], *, chunk: int = FILE_CHUNK,
                progress: bool | ProgressCallback | None = None, tta: bool | None = None,
                limits: InputLimits = LOCAL_FILE_LIMITS, refuse_nothing_to_grade: bool = False) -> GradedFiles:
    """Read and grade the image files ``paths`` with ``bundle``, ``chunk`` files at a time, as
    ``python -m drac_ssl.export RUN --images DIR`` does (the same loop): a file that cannot be
    graded does not stop the others, and is listed in :attr:`GradedFiles.failed` with why and
    what to do.

    Each file is read by :func:`~drac_ssl.grading.predict.read_image` with the bundle's
    ``kind``, ``grey_trained`` and ``bit_depths`` (so a colour photograph given to a grey
    UW-OCTA model is doubted as OCTA, a 16-bit scan of another bit depth is warned about) and
    ``limits`` (the app's rule for a local file: :data:`~drac_ssl.grading.image_file.LOCAL_FILE_LIMITS`);
    the readable images of a chunk are graded in one
    :func:`~drac_ssl.grading.predict.grade_images` call with what reading said
    (``file_warnings``), so :attr:`GradedImages.not_reliably_gradable` is the export's verdict,
    and their decoded pixels go once graded. The probabilities and grades are those of
    ``grade_images`` on all the images at once (each image's figures are its own).

    Args:
        bundle: a loaded bundle (:func:`~drac_ssl.grading.bundle.load_bundle`).
        paths: the files, a list (or other sequence) of paths; a file given twice is graded
            twice. Not a folder: list its images first (``sorted(Path(folder).glob("*.png"))``,
            or the export's listing, :func:`drac_ssl.export.list_images`).
        chunk: files read and graded at a time (:data:`FILE_CHUNK`): the decoded images of
            one chunk are held at once.
        progress: None or False, nothing; True, a bar (``tqdm.auto``: a widget in a notebook
            with ``ipywidgets`` installed, else tqdm warns "IProgress not found" and draws a
            line on stderr, as elsewhere) counting the files; a callable ``progress(done,
            total)``, called after each chunk (``done`` of ``total`` files read, graded or
            failed).
        tta: flip test-time augmentation, as for ``grade_images`` (None: as the bundle's
            cross-validation measured it).
        limits: the largest file read (:class:`~drac_ssl.grading.image_file.InputLimits`).
        refuse_nothing_to_grade: a blank image or random noise is not graded but listed among
            the failures (:func:`nothing_to_grade_problem`), as the app refuses it; by default
            it is graded and its verdict says its grade must not be used.

    Returns:
        :class:`GradedFiles`: ``graded`` (the graded files in the order given, with their
        paths and whether each is one of the bundle's training images), ``failed``
        (:class:`FileFailure` per file not graded, in the order given), ``notes`` (per graded
        file, reading's plain notes, the words alone); :meth:`GradedFiles.to_records` a table
        of the graded files.

    Raises:
        TypeError: ``paths`` is one path, not a list of them; ``progress`` other than None,
            False, True or a callable; ``tta`` other than None, True, False.
        ValueError: ``chunk`` not a positive integer.
        Whatever grading raises (a bundle's error): a file's own trouble is a failure, not an
        exception.
    """
    return _grade_files_loop(bundle, paths, chunk=chunk, progress=progress, tta=tta, limits=limits,
                             refuse_nothing_to_grade=refuse_nothing_to_grade)


SUBFOLDER_LEFT_OUT = "a sub-folder, not searched (only the files of the folder itself are graded)"
HIDDEN_LEFT_OUT = "a hidden or system file (e.g. .DS_Store, Thumbs.db), never graded"
"""Why :func:`grade_folder` leaves a sub-folder, or a hidden file, out (:attr:`GradedFolder.left_out`)."""


def grade_folder(bundle: Bundle, folder: str | os.PathLike[str], *, chunk: int = FILE_CHUNK,
                 progress: bool | ProgressCallback | None = None, tta: bool | None = None,
                 limits: InputLimits = LOCAL_FILE_LIMITS, refuse_nothing_to_grade: bool = False) -> GradedFolder:
    """Grade every image of ``folder`` (not its sub-folders) as ``python -m drac_ssl.export RUN
    --images DIR`` does: the files listed by the export's rules
    (:func:`drac_ssl.submission.read_folder`: the files named as images, ``.png .jpg .jpeg .tif
    .tiff .bmp`` in any case, hidden files aside, in natural order as the export's rows), a file
    whose name cannot be a case refused with a name to rename it to
    (:func:`drac_ssl.submission.case_name_problems`, a comma, a quote, a first ``=``...), then
    read and graded by :func:`grade_files`' loop (the other arguments are its own).

    Returns:
        :class:`GradedFolder`: ``graded`` and ``notes`` as :func:`grade_files` gives them (the
        paths are ``folder / NAME``); ``failed``, by file name, each file not graded with why
        and the fix (:class:`FileFailure`; the export's exit 2 or ``--skip-unreadable``
        cases); ``left_out``, the entries that are no case (files holding no image,
        sub-folders, hidden files); :meth:`GradedFolder.to_records` one dict per graded file,
        with its ``stem`` (the Kaggle ``id_code``).

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        NotADirectoryError: ``folder`` is a file, not a folder (one file: ``grade_files([path])``).
        OSError: the folder cannot be listed.
        TypeError, ValueError: as :func:`grade_files`.
    """
    from data_prep.validate import natural_key
    from drac_ssl.submission import case_name_problems, read_folder  # numpy and Pillow, no torch

    where = Path(folder)
    if not where.exists() and not where.is_symlink():
        raise FileNotFoundError(f"{where}: the folder does not exist -> check the path"
                                + ("" if where.is_absolute() else f" (a relative path is read from the "
                                                                  f"current folder, {Path.cwd()})"))
    if not where.is_dir():
        raise NotADirectoryError(f"{where}: not a folder: grade_folder grades the images of a folder "
                                 f"(one file: grade_files(bundle, [path]))")
    found = read_folder(where)
    files = sorted(found.images, key=lambda p: natural_key(p.name))
    refused = [FileFailure(path, Problem(str(path), why, fix, kind="not-graded").line,
                           (Problem(str(path), why, fix, kind="not-graded"),)) for path, why, fix in found.others]
    renamed = case_name_problems(files, where)
    refused += [FileFailure(path, problem.line, (problem,)) for path, problem in renamed]
    names = {path for path, _ in renamed}
    result = _grade_files_loop(bundle, [p for p in files if p not in names], chunk=chunk, progress=progress,
                               tta=tta, limits=limits, refuse_nothing_to_grade=refuse_nothing_to_grade,
                               listed=True)
    failed = sorted(refused + result.failed, key=lambda f: natural_key(f.path.name))
    left_out = ([(path, why) for path, why in found.not_images]
                + [(path, SUBFOLDER_LEFT_OUT) for path in found.subfolders]
                + [(path, HIDDEN_LEFT_OUT) for path in found.hidden])
    return GradedFolder(result.graded, failed, result.notes, where, left_out)


def _grade_files_loop(bundle: Bundle, paths: Sequence[str | os.PathLike[str]], *, chunk: int = FILE_CHUNK,
                      progress: bool | ProgressCallback | None = None, tta: bool | None = None,
                      limits: InputLimits = LOCAL_FILE_LIMITS, refuse_nothing_to_grade: bool = False,
                      all_or_nothing: bool = False, check_only: bool = False,
                      training_images: bool = True, listed: bool = False) -> GradedFiles:
    """:func:`grade_files`' loop, with the export command's own switches
    (:func:`drac_ssl.export._predict_folder` calls it; the other arguments are
    :func:`grade_files`'):

    * ``all_or_nothing`` (the export without ``--skip-unreadable``: a submission must not miss
      a case): every file is still read, so that every failure is listed, but no chunk is
      graded from the first failure on, and if any file failed the chunks graded before it
      are dropped: :attr:`GradedFiles.graded` then holds no image (and ``notes`` is empty);
    * ``check_only`` (the export when the folder already has problems and nothing will be
      written): every file read and checked, none graded (:attr:`GradedFiles.graded` holds no
      image);
    * ``training_images`` False: :attr:`GradedImages.training_image` left None, not compared
      with the bundle's training images (the export hashes the files itself and reads
      :attr:`GradedImages.pixels_sha256`);
    * ``listed``: the files were listed from a folder moments before, so a file not found is
      said gone since, in the folder's words (:func:`_read_failure`'s ``listed``).
    """
    if isinstance(paths, str | bytes | os.PathLike):
        raise TypeError(f"grade_files takes a list of image files, got the {type(paths).__name__} {paths!r}: "
                        f"pass [{paths!r}] for one file, or list a folder's images first, e.g. "
                        f"sorted(Path(folder).glob('*.png'))")
    if isinstance(chunk, bool) or not isinstance(chunk, int | np.integer) or chunk < 1:
        raise ValueError(f"chunk must be a positive integer (files read and graded at a time), got {chunk!r}")
    if not (progress is None or isinstance(progress, bool) or callable(progress)):
        raise TypeError(f"progress must be None, False, True (a bar) or a function progress(done, total), "
                        f"got the {type(progress).__name__} {progress!r}")
    if tta is not None:  # a bad tta before any file is read
        from drac_ssl.grading.predict import resolve_tta

        resolve_tta(tta, bundle)
    files = list(paths)
    total = len(files)
    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="grading", unit="img", leave=False)
    report = progress if callable(progress) else None
    failed: list[FileFailure] = []
    graded_paths: list[str | os.PathLike[str]] = []
    notes: list[list[str]] = []
    parts: list[GradedImages] = []
    channels = bundle.spec.channels
    try:
        for start in range(0, total, int(chunk)):
            images: list[np.ndarray] = []
            said_per_image: list[list[str]] = []
            for path in files[start:start + int(chunk)]:
                noted: list[str] = []
                try:  # the bundle's kind: a colour file on a grey UW-OCTA model is doubted, as in the app
                    pixels, said = read_image(path, channels, kind=bundle.kind, notes=noted,
                                              grey_trained=bundle.grey_trained, bit_depths=bundle.bit_depths,
                                              limits=limits, training_side=bundle.training_side)
                except (OSError, ValueError) as exc:
                    failed.append(_read_failure(path, exc, listed))
                    continue
                if refuse_nothing_to_grade and (refused := nothing_to_grade_problem(path, pixels)) is not None:
                    failed.append(FileFailure(Path(path), refused.line, (refused,)))
                    continue
                images.append(pixels)
                said_per_image.append(said)
                graded_paths.append(path)
                notes.append([note.words for note in noted])  # the words, as file_warnings
            if images and not check_only and not (all_or_nothing and failed):
                parts.append(grade_images(bundle, images, tta=tta, file_warnings=said_per_image,
                                          training_images=False))  # compared once, below
            done = min(start + int(chunk), total)
            if bar is not None:
                bar.update(done - start)
            if report is not None:
                report(done, total)
    finally:
        if bar is not None:
            bar.close()
    if check_only or (all_or_nothing and failed) or not parts:
        return GradedFiles(_nothing_graded(bundle), failed, [])
    graded = GradedImages.joined(parts)
    graded.paths = [os.fspath(path) for path in graded_paths]
    if training_images:  # by each file's hash and its decoded pixels'
        graded.training_image = training_image_flags(bundle, graded_paths, graded.pixels_sha256)
    return GradedFiles(graded, failed, notes)


def _nothing_graded(bundle: Bundle) -> GradedImages:
    """The result of no image graded: every array of length 0, ``paths`` [] (known: none)."""
    empty = grade_prepared(bundle, [])
    empty.paths, empty.training_image = [], []
    return empty

