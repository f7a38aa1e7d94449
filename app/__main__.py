"""``python -m app [--bundle PATH] [--port 7860] [--host 127.0.0.1] [--max-size-mb 50] [--root-path /drac]``.

Serves the grading app for a model bundle (default: the run bundle ``runs/*/bundle`` built last,
said with how many were found, a few of the others and ``--bundle PATH`` to choose one; with a
warning when it is a trial run's, an untrained demo or phantom-trained while an older one is
from a full training run of the same task: :func:`app.bundle_path.chosen_bundle_words`). Console
script: ``drac-ssl-app = "app.__main__:main"``. Exit code 75
(:data:`drac_ssl.exit_codes.RUN_BUSY`: try again later) for a ``--bundle RUN`` with no bundle
yet whose training still runs, as ``python -m drac_ssl.export`` says it. Exit code 2, with the commands that make a
bundle, when there is none, or with the install command when gradio (the ``app`` extra) is
missing or of a version outside :data:`app.GRADIO_RANGE`, or when torch and torchvision are
not a supported matching pair (:mod:`drac_ssl.torch_pair`), or with the two ways to start it
for a ``--host`` off the loopback interface given neither ``--auth-file`` nor
``--insecure-no-auth`` (:func:`app.auth.open_host_refusal`), or for a login file that cannot be
used (:class:`app.auth.AuthFileError`) or a record of login attempts that cannot be opened
(:class:`app.login_guard.AuditLogError`), or when gradio cannot reach the app's own address as
it starts (a proxy that ``NO_PROXY`` does not turn away: :class:`app.server.OwnAddressUnreachable`);
0 after Ctrl-C or SIGTERM.

With ``--auth-file`` every login goes through :class:`app.login_guard.LoginGuard`: the login
file's scrypt hashes (plaintext lines still work, hashed in memory at start, with a warning
naming their lines and the ``python -m app.auth hash USER`` that converts each; hash lines with
other parameters than most are warned about too), the throttle of failed logins, and one line
per attempt appended to ``--audit-log`` (default
``<--temp-dir>/drac_app_logins_<uid>/logins.log``), whose path the start-up lines give (and
whose folder is warned about when other accounts may change it).

The console's ``[app] bundle ...; serving on http://HOST:PORT (Ctrl-C stops)`` line comes once
the server is bound and answers (a script may wait for it, then use the address; with ``--root-path /drac``
it adds ``for a reverse proxy at /drac/``, where the page works: the address it gives still
answers, but the page's links there point under ``/drac``; with gradio's ``GRADIO_ROOT_PATH``
instead, checked the same way before anything loads (:func:`app.reverse_proxy.gradio_root_path`:
a whole ``http(s)://`` URL too, as gradio takes; a wrong one stops the start, exit code 2), it
adds ``for a reverse proxy at /drac/ (GRADIO_ROOT_PATH)``); gradio's own start-up lines (its local URL again, and a hint to ``share=True``, an option this command does
not have: nothing is shared) are not printed.

Uploads and every file derived from them live in one private folder per server process
(mode 0700, under ``--temp-dir``; :mod:`app.workdir`), removed when the server stops (Ctrl-C,
SIGTERM, an error); folders of killed servers are removed at the next start. While it runs,
each kind of file is deleted after its own time (:mod:`app.retention`).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import math
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.login_guard import LoginGuard

__all__ = ["main", "parse_args"]

PORTS = (1, 65535)  # gradio cannot serve on port 0 (it probes the port it was given)


def _port(text: str) -> int:
    """``--port``: a TCP port 1..65535 (bind() raises OverflowError outside 0..65535)."""
    try:
        port = int(text) if text.isascii() else None  # int() reads '７８６０' too
    except ValueError:
        port = None
    if port is None or not PORTS[0] <= port <= PORTS[1]:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port number: give {PORTS[0]}..{PORTS[1]}, e.g. 7860 (the default)")
    return port


def _number(default: float, zero_ok: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number > 0, or >= 0 with ``zero_ok`` (0: off); inf crashed
    with OverflowError, nan was blamed on the bundle. The message names the value, the range
    and ``default``."""
    def parse(text: str) -> float:
        try:
            value = float(text) if text.isascii() else math.nan  # float() reads '０.５' too
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value >= 0 if zero_ok else value > 0)):
            allowed = "a number >= 0 (finite; 0: off)" if zero_ok else "a number > 0 (finite)"
            raise argparse.ArgumentTypeError(
                f"{text!r} is not allowed: give {allowed}, e.g. {default:g} (the default)")
        return value
    return parse


def _count(least: int, default: int) -> Callable[[str], int]:
    """An argparse type: a whole number ``least`` or more (:func:`drac_ssl.starting.whole_number`)."""
    from drac_ssl.starting import whole_number  # stdlib only

    return whole_number(least, default)


def _root_path(text: str) -> str:
    """``--root-path``: :func:`app.reverse_proxy.root_path` (``/drac/`` -> ``/drac``), its
    ValueError said as argparse's usage error (exit code 2)."""
    from app.reverse_proxy import root_path

    try:
        return root_path(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from app.auth import hash_command
    from app.grading_log import GRADING_LOG_MAX_MB  # stdlib only
    from app.login_guard import (  # stdlib and app.auth only
        AUDIT_MAX_BYTES,
        SUM_FLUSH_S,
        throttle_words,
    )
    from drac_ssl.exit_codes import APP_EXIT_CODES  # stdlib only
    from drac_ssl.grading.image_file import (  # stdlib only: the upload limits' defaults
        DECODED_BYTES_PER_PIXEL,
        DEFAULT_LIMITS,
    )
    from drac_ssl.starting import (  # stdlib only: no training code for the app
        CommandParser,
        add_version_option,
        ascii_int,
        command_name,
    )

    prog = command_name("drac-ssl-app", "app")  # the console script names itself, as drac-ssl-train
    parser = CommandParser(allow_abbrev=False,  # a prefix is refused, never guessed
        prog=prog,
        description="Serve the drac_ssl diabetic retinopathy grading app (Gradio) for a model "
                    "bundle, offline, on the loopback interface by default.",
        epilog=f"Example: {prog} --bundle runs/drac/bundle --port 7860. {APP_EXIT_CODES}")
    parser.add_argument("--bundle", default=None,
                        help="bundle folder (RUN/bundle, or a variant's RUN/bundles/NAME) or run "
                             "folder; default: the run bundle (RUN/bundle) under --runs-dir built "
                             "last (its metadata.json's created_utc)")
    parser.add_argument("--runs-dir", default="runs", help="where to look for bundles (default: runs)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to bind (default 127.0.0.1; 0.0.0.0 exposes the app "
                             "to the network: it then needs --auth-file FILE, or "
                             "--insecure-no-auth, else it does not start: exit code 2)")
    parser.add_argument("--port", type=_port, default=7860, help="port, 1..65535 (default 7860)")
    parser.add_argument("--root-path", type=_root_path, default=None, metavar="PATH",
                        help="the path at which a reverse proxy serves the app, e.g. /drac for "
                             "https://HOST/drac/ (the proxy strips it before passing a request "
                             "on): the page's links and its login form then point under it; "
                             "default: gradio's GRADIO_ROOT_PATH, checked the same way (or a "
                             "whole http(s):// URL, as gradio takes), else none (the proxy's root; "
                             "docs/deploying.md)")
    mib, side = DEFAULT_LIMITS.max_mb, DEFAULT_LIMITS.max_side  # InputLimits' defaults: 50, 8192
    megapixels = DEFAULT_LIMITS.max_pixels / 1_000_000  # 40
    parser.add_argument("--max-size-mb", type=_number(mib), default=mib,
                        help=f"largest accepted upload in MiB (1 MiB = 1,048,576 bytes; default {mib:g})")
    parser.add_argument("--max-side", type=_count(1, side), default=side,
                        help=f"largest accepted image side in pixels (default {side})")
    parser.add_argument("--max-megapixels", type=_number(megapixels), default=megapixels,
                        help=f"largest accepted image in decoded megapixels, width x height "
                             f"(default {megapixels:g}: a small file may hold a huge image); an image "
                             f"may also take at most {DECODED_BYTES_PER_PIXEL} bytes a pixel of it "
                             f"decoded ({DECODED_BYTES_PER_PIXEL * megapixels:g} MB at {megapixels:g}: "
                             f"16-bit RGB; a float32 RGB TIFF is read up to "
                             f"{DECODED_BYTES_PER_PIXEL * megapixels / 12:g} megapixels)")
    parser.add_argument("--concurrency", type=_count(1, 1), default=1,
                        help="requests that run the model at the same time, each with --threads "
                             "threads (default 1)")
    parser.add_argument("--queue-size", type=_count(0, 32), default=32,
                        help="requests that may wait for the model; more get the app's 'busy, "
                             "try again' message (default 32: 20 clients at once are all served)")
    parser.add_argument("--max-batch", type=_count(1, 200), default=200,
                        help="images per batch (default 200); a batch is one request in the "
                             "queue and takes the model one image at a time, letting waiting "
                             "requests go first between two images")
    parser.add_argument("--threads", type=ascii_int("--threads"), default=0,
                        help="CPU threads of torch and OpenCV (default 0: the package's policy, "
                             "half the cores, 1..4; see drac_ssl.runtime.default_threads)")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                        help="flip test-time augmentation (4 flips per image) on or off; default: "
                             "as the bundle's cross-validated figures were measured (finetune.tta)")
    parser.add_argument("--no-gradcam", action="store_true", help="no heatmaps (faster)")
    parser.add_argument("--auth-file", default=None, metavar="FILE",
                        help=f"require a login: one line per user, USER:scrypt$..., the line "
                             f"'{hash_command()}' prints (it asks for the password, "
                             "echoing nothing); plaintext user:password lines, and a file others may "
                             "read, are warned about at start on 127.0.0.1 and refused on another "
                             "--host (chmod 600; blank lines and # comments skipped; app.auth). "
                             f"Throttle (app.login_guard): {throttle_words()}. Needed with a --host "
                             "other than 127.0.0.1 (or --insecure-no-auth), behind a TLS reverse proxy")
    parser.add_argument("--grading-log", default=None, metavar="FILE",
                        help="opt-in: append one JSON line per graded image to FILE (UTC time, the "
                             "signed-in user name with --auth-file, the image file's SHA-256, never "
                             "the image or its name; the bundle's metadata.json SHA-256, grade, "
                             "probabilities, TTA; app.grading_log), created mode 0600, rotated above "
                             "--grading-log-max-mb; the app deletes no line nor rotated file: their "
                             "retention is yours (docs/deploying.md). Default: no record of gradings")
    parser.add_argument("--grading-log-max-mb", type=_number(GRADING_LOG_MAX_MB, zero_ok=True),
                        default=GRADING_LOG_MAX_MB, metavar="MB",
                        help=f"with --grading-log: the size in MiB above which FILE is renamed "
                             f"FILE.<UTC yyyymmddThhmmssZ> (a name no file has; every rotated file "
                             f"kept, none deleted by the app: prune them by your retention rule) and "
                             f"a new FILE begun; 0: never rotated; default {GRADING_LOG_MAX_MB:g}")
    parser.add_argument("--audit-log", default=None, metavar="FILE",
                        help="with --auth-file: the file to which every login attempt is appended "
                             "(UTC time, user name, outcome; never a password; throttled attempts "
                             f"summed per name and minute, each sum written within {SUM_FLUSH_S:g} s), "
                             "created mode 0600 in a folder only this "
                             f"account should write, rotated to FILE.1 above {AUDIT_MAX_BYTES // 2**20} "
                             "MiB; default: TEMP/drac_app_logins_<uid>/logins.log, TEMP being "
                             "--temp-dir's folder")
    parser.add_argument("--insecure-no-auth", action="store_true",
                        help="serve a --host other than 127.0.0.1 without --auth-file: only when "
                             "a reverse proxy in front asks for a login and only it can reach "
                             "the port; without it (or --auth-file) such a --host is refused")
    parser.add_argument("--temp-dir", default=None,
                        help="folder in which the server makes its private working folder for "
                             "uploads and derived files (mode 0700, deleted when the server stops); "
                             "default: the system temp folder (TMPDIR, else /tmp); e.g. a folder "
                             "on an encrypted volume")
    parser.add_argument("--quiet", action="store_true",
                        help="accepted for older scripts; gradio's own start-up lines are no "
                             "longer printed (the app's 'serving on' line gives the address)")
    add_version_option(parser)
    return parser.parse_args(argv)


def _cannot_load(bundle: object, exc: Exception) -> str:
    """``cannot load the bundle PATH: WHY``, the path said once: a reason that starts with the
    bundle's path (``/nonexistent: does not exist.``) follows the words directly (an editor's
    review, F13: ``cannot load the bundle /nonexistent: /nonexistent: does not exist.``)."""
    text, path = str(exc), str(bundle)
    return f"cannot load the bundle {text}" if text.startswith(path) else f"cannot load the bundle {path}: {text}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m app`` and the ``drac-ssl-app`` console script."""
    from app import offline_server_environment

    offline_server_environment()  # the server's process: gradio and the hub offline
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[app] %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio's own startup probes
    if args.threads < 0:
        print("error: --threads must be 0 (the default policy) or a positive count", file=sys.stderr)
        return 2
    root_from_env = args.root_path is None and bool(os.environ.get("GRADIO_ROOT_PATH"))
    if root_from_env:  # gradio's own variable, checked as --root-path is (a URL too, as gradio takes)
        from app.reverse_proxy import gradio_root_path

        try:
            args.root_path = gradio_root_path(os.environ["GRADIO_ROOT_PATH"])
        except ValueError as exc:
            print(f"error: GRADIO_ROOT_PATH (used when --root-path is not given): {exc}\n  fix: set "
                  f"it to the path at which the reverse proxy serves the app, or unset it, or give "
                  f"--root-path PATH, which takes its place", file=sys.stderr)
            return 2
    from app.auth import (
        AuthFileError,
        is_loopback_host,
        open_host_auth_file_refusal,
        open_host_refusal,
        parameter_warning,
        plaintext_warning,
        read_auth_file,
        readable_by_others,
    )

    if not (is_loopback_host(args.host) or args.auth_file or args.insecure_no_auth):
        print(f"error: {open_host_refusal(args.host)}", file=sys.stderr)  # a usage error: 2
        return 2
    try:  # before any bundle is loaded; the errors never show a line (it may hold a password)
        auth = read_auth_file(args.auth_file) if args.auth_file else None
    except AuthFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # served beyond this machine (another host, or behind a reverse proxy: --root-path or
    # GRADIO_ROOT_PATH): a login file others may read or with a plaintext password is refused
    # (security review F1); on loopback alone both are warned below
    # (root_path "" is a proxy too: --root-path / or GRADIO_ROOT_PATH=/, the app at its root)
    if auth and (not is_loopback_host(args.host) or args.root_path is not None) and (
            refusal := open_host_auth_file_refusal(args.auth_file, auth, args.host, args.root_path)):
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    if args.auth_file and readable_by_others(args.auth_file):
        logging.warning("--auth-file %s may be read by other users of this machine: chmod 600 it",
                        args.auth_file)
    if auth and (plaintext := plaintext_warning(args.auth_file, auth)):
        logging.warning("%s", plaintext)
    if auth and (mixed := parameter_warning(args.auth_file, auth)):
        logging.warning("%s", mixed)
    if importlib.util.find_spec("gradio") is None:  # before any bundle is loaded
        from app import GRADIO_MISSING

        print(f"error: {GRADIO_MISSING}", file=sys.stderr)
        return 2
    from app import installed_gradio_problem

    if problem := installed_gradio_problem():  # gradio 5: a TypeError when the page is built
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from app.workdir import private_workdir, remove_stale_workdirs

    base = args.temp_dir or tempfile.gettempdir()
    if not os.path.isdir(base):
        print(f"error: --temp-dir {base}: not a folder\n  fix: give an existing folder (e.g. on an "
              f"encrypted volume), or leave --temp-dir out", file=sys.stderr)
        return 2
    # the bundle, from paths only: one not there is said now, not after torch and gradio load
    from app.bundle_path import NoBundleError, RunBundle, chosen_bundle_words, run_bundles
    from drac_ssl.exit_codes import RUN_BUSY
    from drac_ssl.grading.bundle_folder import BundleBusy, BundleError, bundle_folder

    found: list[RunBundle] = []  # newest first, each metadata.json read once
    try:
        if args.bundle:
            bundle_folder(args.bundle)  # not there, or neither a bundle nor a run folder
        else:
            found = run_bundles(args.runs_dir)  # NoBundleError, with the commands that make one
        bundle = args.bundle or found[0].path
    except NoBundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BundleBusy as exc:  # a run whose training still runs: try later (75), as the export says it
        print(f"error: {_cannot_load(args.bundle, exc)}", file=sys.stderr)
        return RUN_BUSY
    except BundleError as exc:
        print(f"error: {_cannot_load(args.bundle, exc)}", file=sys.stderr)
        return 2
    chosen = ""
    if found:  # chosen, not given: which, of how many, how to choose (before the slow imports)
        note, warning = chosen_bundle_words(found, args.runs_dir)
        print(f"[app] {note}", flush=True)
        if warning:
            print(f"[app] warning: {warning}", flush=True)
        chosen = f"; the newest of {len(found)} under {args.runs_dir}" if len(found) > 1 else ""
    from drac_ssl.exit_codes import USAGE_ERROR
    from drac_ssl.torch_pair import say_torch_pair_warning, torch_pair_refusal  # stdlib only

    problem = torch_pair_refusal()  # a mismatched torchvision failed inside the model's load
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return USAGE_ERROR
    say_torch_pair_warning()  # a matching pair outside the tested ranges: goes on
    guard = None
    if auth:  # the record of login attempts: opened now, so that a bad place stops the start
        from app.login_guard import (
            AuditLog,
            AuditLogError,
            LoginGuard,
            default_audit_path,
            folder_warning,
        )

        try:
            audit = (AuditLog(args.audit_log) if args.audit_log
                     else AuditLog(default_audit_path(base), default=True))
        except AuditLogError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if args.audit_log and readable_by_others(audit.path):
            logging.warning("--audit-log %s may be read by other users of this machine (it names "
                            "who logged in): chmod 600 it", audit.path)
        if args.audit_log and (unsafe := folder_warning(audit.path)):
            logging.warning("%s", unsafe)
        try:  # plaintext lines are hashed now: the guard keeps no password
            guard = LoginGuard(auth, audit=audit)
        except ValueError as exc:  # AuthFileError too; read_auth_file refused these already
            audit.close()
            print(f"error: --auth-file {args.auth_file}: {exc}", file=sys.stderr)
            return 2
        auth = None  # the file's plaintext passwords: not kept for the server's lifetime
    elif args.audit_log:
        logging.warning("--audit-log %s is not used: there is no login without --auth-file",
                        args.audit_log)
    # SIGTERM (a service manager, the load benchmark) stops like Ctrl-C: gradio's shutdown runs
    # and the working folder goes (sys.exit skipped both: gradio's block_thread catches only
    # KeyboardInterrupt)
    on_main_thread = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGTERM, _interrupt) if on_main_thread else None
    try:
        with private_workdir(base) as workdir:  # before gradio is imported: it reads the env then
            stale = remove_stale_workdirs(base, keep=workdir)
            if stale:
                print(f"[app] removed {len(stale)} working folder(s) that stopped servers left in "
                      f"{base}", flush=True)
            return _run(args, workdir, guard, bundle, chosen,
                        root_from=" (GRADIO_ROOT_PATH)" if root_from_env else "")
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM while the bundle loads
        return 0
    finally:
        try:
            if guard is not None:  # the checks given to it end, then the record is closed; SIGTERM
                guard.close()  # meanwhile still stops as Ctrl-C does (its handler is put back below)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM while they end: the record is closed all the same
            logging.warning("stopped while the login checks given to the server were ending: those "
                            "still queued were dropped, and those running are not in the record of "
                            "login attempts (closed, with its sums)")
        finally:
            if on_main_thread:
                signal.signal(signal.SIGTERM, before)


def _serve_until_stopped(demo: object, sleep: Callable[[float], None] = time.sleep) -> int:
    """Block while ``demo`` serves, as gradio's ``block_thread`` does, until Ctrl-C or SIGTERM
    (:func:`_interrupt`), then :func:`_drain` it; the caller closes it. Not ``block_thread``:
    that one closes the web server itself on the interrupt ("Keyboard interruption in main
    thread... closing server."), cutting off every request in flight before a drain could run
    (a live check: 10 clients, all "Connection refused"). The exit code: 0 after a signal;
    1 after an OSError in the wait (``block_thread`` catches it too and stops), said on
    stderr, then drained as a signal is. Where this gradio has no ``demo.is_running``: one
    warning on the log (once per process) and the wait goes on until a signal, since
    stopping at once would end ``python -m app`` with 0 right after it started. ``sleep``:
    for tests."""
    try:
        while _still_serving(demo):
            sleep(0.1)
    except KeyboardInterrupt:
        _drain(demo)
    except OSError as exc:  # not a busy port (the server is bound): the caller's advice does not fit
        print(f"error: the server's wait stopped: {exc}; stopping as on Ctrl-C", file=sys.stderr,
              flush=True)
        _drain(demo)
        return 1
    return 0


_UNKNOWN_RUNNING_WARNED: list[bool] = []


def _still_serving(demo: object) -> bool:
    """``demo.is_running``; True, with one warning on the log (once per process), where this
    gradio has no such attribute."""
    running = getattr(demo, "is_running", None)
    if running is None:
        if not _UNKNOWN_RUNNING_WARNED:
            _UNKNOWN_RUNNING_WARNED.append(True)
            logging.getLogger("app").warning(
                "this gradio has no demo.is_running: the app serves until Ctrl-C or SIGTERM and "
                "does not notice a server that stopped by itself; check "
                "app.__main__._serve_until_stopped against this gradio version")
        return True
    return bool(running)


def _drain(demo: object, limit_s: float | None = None,
           clock: Callable[[], float] | None = None,
           sleep: Callable[[float], None] = time.sleep) -> bool:
    """A stopping server's last step before it closes (SIGTERM or Ctrl-C): stop taking new
    images (they get the "restarting" answer, :meth:`app.model_queue.ModelQueue.stop_admitting`)
    and let the requests admitted, being graded or waiting in line, finish, at most ``limit_s``
    seconds (:data:`app.model_queue.DRAIN_S`, 30 s) in all, gradio's sending of their results
    included (its queue's workers idle: :func:`_gradio_idle`); then keep serving, still taking
    no new image, until :data:`app.model_queue.DRAIN_GRACE_S` (5 s) after the last request
    finished, so that the browser can fetch the pictures of the last results (none when no
    request finished that recently). True when all finished; False, said on the console, when
    the limit or another Ctrl-C / SIGTERM came first with requests still graded or waiting (the
    close then cancels them). Another signal once all were graded, while gradio still sends
    results, skips the rest and the grace: True, with those results said on the console
    (their pages may miss their pictures). Runs
    once per server: called again (a second signal that reached the caller) it returns False
    at once, waiting for nothing. ``demo``: what :func:`app.server.serve` returned (its
    ``model_queue``); ``clock``: seconds, the queue's own (its ``finished_at`` is on it) where
    not given; ``sleep``: for tests."""
    from app.model_queue import DRAIN_GRACE_S, DRAIN_S

    limit_s = DRAIN_S if limit_s is None else limit_s
    queue = getattr(demo, "model_queue", None)
    if queue is None:
        return True
    if queue.draining:  # a second signal: the first drain was cut short, close at once
        return False
    clock = queue.clock if clock is None else clock
    done = False
    try:
        queue.draining = True
        end = clock() + limit_s
        queue.stop_admitting()
        admitted = queue.running + queue.waiting
        if admitted:
            print(f"[app] stopping: no new images are taken; waiting up to {limit_s:g} s for the "
                  f"{admitted} being graded or waiting in line (Ctrl-C again stops at once)", flush=True)
        done = queue.drain(max(0.0, end - clock()))
        while done and not _gradio_idle(demo) and clock() < end:  # the last results being sent
            sleep(0.05)
    except KeyboardInterrupt:
        unfinished = queue.running + queue.waiting
        if unfinished:
            print(f"[app] stopped with {unfinished} request(s) unfinished: their users see an "
                  f"error and must upload again", flush=True)
            return False
        # all graded: the signal came while gradio still sent results (or before any was taken)
        if sending := _gradio_sending(demo):
            print(f"[app] stopped while the last {sending} result(s) were being sent: those pages "
                  f"may not show their pictures", flush=True)
        return True
    if not done:
        print(f"[app] stopped with {queue.running + queue.waiting} request(s) unfinished: their users "
              f"see an error and must upload again", flush=True)
        return False
    try:  # the grace: the last results' pictures, fetched by the browser after the result
        finished = queue.finished_at
        while finished is not None and clock() < finished + DRAIN_GRACE_S:
            sleep(0.05)
    except KeyboardInterrupt:
        pass  # all finished: a second signal only cuts the grace short
    return True


_UNKNOWN_QUEUE_WARNED: list[bool] = []


def _gradio_idle(demo: object) -> bool:
    """Whether gradio's queue has no event in progress (its workers' ``active_jobs`` all empty).
    Where this gradio keeps no such list (``demo._queue.active_jobs`` renamed or not a list):
    True, with one warning on the log (once per process) that the last results are then
    covered by the grace alone (:data:`app.model_queue.DRAIN_GRACE_S`)."""
    jobs = getattr(getattr(demo, "_queue", None), "active_jobs", None)
    if not isinstance(jobs, list):
        if not _UNKNOWN_QUEUE_WARNED:
            _UNKNOWN_QUEUE_WARNED.append(True)
            logging.getLogger("app").warning(
                "this gradio keeps no list demo._queue.active_jobs (found %s): the stopping server "
                "cannot see the results gradio still sends and waits only its grace after the last "
                "grading; check app.__main__._gradio_idle against this gradio version",
                type(jobs).__name__)
        return True
    return all(job is None for job in jobs)


def _gradio_sending(demo: object) -> int:
    """How many events gradio's queue still has in progress (``demo._queue.active_jobs``: one
    list of events per busy worker); 0 where this gradio keeps no such list."""
    jobs = getattr(getattr(demo, "_queue", None), "active_jobs", None)
    if not isinstance(jobs, list):
        return 0
    return sum(len(job) for job in jobs if job is not None)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM handler: stop as Ctrl-C does."""
    raise KeyboardInterrupt


def _run(args: argparse.Namespace, workdir: os.PathLike[str],
         auth: LoginGuard | None, bundle: str | os.PathLike[str], chosen: str = "",
         root_from: str = "") -> int:
    """Load ``bundle`` (``--bundle``, or the newest under ``--runs-dir``, found by
    :func:`main` before the imports) and serve it until Ctrl-C, with the logins of ``auth``
    (``--auth-file``; None: none); the exit code. ``chosen``: said in the serving line's
    brackets when the bundle was the newest of several found (``; the newest of 6 under runs``);
    ``root_from``: said after the proxy's path when ``GRADIO_ROOT_PATH`` gave it, not
    ``--root-path`` (`` (GRADIO_ROOT_PATH)``)."""
    from drac_ssl.runtime import apply_thread_policy

    threads = apply_thread_policy(args.threads)
    logging.info("CPU threads: %d (%s; %d usable cores)", threads["threads"], threads["source"],
                 threads["usable_cores"])
    from app.predict import Predictor
    from app.retention import retention_words
    from app.server import AppSettings, OwnAddressUnreachable, serve
    from drac_ssl.grading.bundle import BundleError, grade_caveats

    if args.grading_log:  # opened now: a bad place stops the start, not the first grading
        from app.auth import readable_by_others
        from app.grading_log import GradingLog, GradingLogError, mib_bytes

        try:
            args.grading_log = str(GradingLog(args.grading_log, mib_bytes(args.grading_log_max_mb)).path)
        except GradingLogError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if readable_by_others(args.grading_log):
            logging.warning("--grading-log %s may be read by other users of this machine (it names "
                            "users and the SHA-256 of patients' images): chmod 600 it", args.grading_log)
    settings = AppSettings(host=args.host, port=args.port, max_mb=args.max_size_mb,
                           max_side=args.max_side, max_megapixels=args.max_megapixels,
                           concurrency=args.concurrency,
                           queue_size=args.queue_size, max_batch_files=args.max_batch,
                           tta=args.tta, gradcam=not args.no_gradcam, root_path=args.root_path,
                           grading_log=args.grading_log, grading_log_max_mb=args.grading_log_max_mb)
    try:
        predictor = Predictor(bundle, tta=settings.tta, gradcam=settings.gradcam,
                              limits=settings.limits)
    except (BundleError, FileNotFoundError, ValueError) as exc:
        print(f"error: {_cannot_load(bundle, exc)}", file=sys.stderr)
        return 2
    from app.auth import bind_name

    print(f"[app] every image: {predictor.describe()}", flush=True)
    print(f"[app] model queue: {settings.concurrency} at a time, {settings.queue_size} waiting; "
          f"more get a 'busy, try again' message", flush=True)
    print(f"[app] uploads and files derived from them are kept in {workdir} (only this account "
          f"can read it) and deleted when the server stops; meanwhile {retention_words()}",
          flush=True)
    if auth is not None and auth.audit is not None:
        throttle = auth.throttle
        print(f"[app] every login attempt (UTC time, user name, outcome; never a password) is "
              f"appended to {auth.audit.path}; {throttle.max_failures} failed logins for a user "
              f"name within {throttle.window_s / 60:g} minutes refuse that name until the first "
              f"is {throttle.window_s / 60:g} minutes old, {throttle.max_per_minute} in a minute "
              f"in all refuse every login for that minute", flush=True)
    if settings.grading_log:
        print(f"[app] every graded image (UTC time, user name, the image's SHA-256, never the image "
              f"or its name; bundle, grade, probabilities, TTA) is appended to {settings.grading_log}, "
              + (f"renamed {settings.grading_log}.<UTC time> above {settings.grading_log_max_mb:g} MiB; "
                 f"the app deletes no line nor rotated file (prune them by your retention rule)"
                 if settings.grading_log_max_mb else "which the app never deletes nor rotates"), flush=True)
    demo, code = None, 0
    try:
        # gradio quiet: its start-up lines said "Running on local URL" (the line below says
        # it) and "To create a public link, set `share=True`" though nothing is shared; its
        # errors are exceptions, said below. block=False: launch returns once the server is
        # bound and has answered gradio's own start-up request, so the serving line is true
        demo = serve(predictor, settings, block=False, quiet=True, auth=auth,
                     insecure_no_auth=args.insecure_no_auth)
        root = settings.root_path  # --root-path or GRADIO_ROOT_PATH, checked in its normal form
        proxied = f" for a reverse proxy at {root}/{root_from}" if root else ""
        print(f"[app] bundle {predictor.path} ({len(predictor.bundle.models)} fold model(s){chosen}); "
              f"serving on http://{bind_name(settings.host)}:{settings.port}{proxied} (Ctrl-C stops)",
              flush=True)
        # what the bundle says against reading its grades (phantom-trained, a trial run ...):
        # the export command's warnings and the page's caveat, in their words
        for caveat in grade_caveats(predictor.bundle.metadata, plural=True):
            print(f"[app] warning: {caveat}", flush=True)
        # the chance warning before the calibration one: the latter ends "see above about the
        # grade", which on the console is this line (the page's banner and the export say both)
        if chance := predictor.chance_warning:
            print(f"[app] warning: {chance}", flush=True)
        if uncalibrated := predictor.calibration_warning:  # the banner's and the export's words
            print(f"[app] warning: {uncalibrated}", flush=True)
        code = _serve_until_stopped(demo)  # until Ctrl-C or SIGTERM (_interrupt), then the drain
    except (KeyboardInterrupt, SystemExit):
        if demo is not None:  # let what was admitted finish before the close below cancels it
            _drain(demo)
    except OwnAddressUnreachable as exc:  # gradio's check of its own address (a proxy: app.server.serve)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, OverflowError) as exc:  # a busy port; bind()'s OverflowError: a port outside 0..65535
        print(f"error: cannot serve on {settings.host}:{settings.port}: {exc}\n"
              f"  fix: choose another --port", file=sys.stderr)
        return 2
    finally:
        if demo is not None:
            demo.close(verbose=False)  # the queue and the server, also after an interrupt here
    return code


if __name__ == "__main__":
    raise SystemExit(main())
