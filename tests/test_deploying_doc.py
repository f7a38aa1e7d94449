"""docs/deploying.md states facts of the code (security review F14): the figures and names it
quotes are checked here against the code that has them, so that a change of one fails here."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "deploying.md"


def _page() -> str:
    return " ".join(PAGE.read_text(encoding="utf-8").split())


def test_the_readme_lists_the_page() -> None:
    assert "[Deploying in a hospital](docs/deploying.md)" in (REPO / "README.md").read_text(encoding="utf-8")


def test_the_app_defaults_it_quotes_are_the_app_s() -> None:
    from app.__main__ import parse_args
    from app.server import transport_limit
    from drac_ssl.grading.image_file import InputLimits

    args = parse_args([])
    page = _page()
    assert args.host == "127.0.0.1" and "keep it on 127.0.0.1 (the default)" in page
    assert f"`--queue-size` ({args.queue_size})" in page and f"`--concurrency` ({args.concurrency})" in page
    assert f"`--max-batch` ({args.max_batch})" in page
    limit = transport_limit(InputLimits(max_bytes=int(args.max_size_mb * 2**20)))
    assert limit == 2 * args.max_size_mb * 2**20
    assert f"twice `--max-size-mb`: {limit // 2**20} MiB by default" in page


def test_the_offline_variables_it_names_are_set_where_it_says() -> None:
    page = _page()
    import drac_ssl

    package = (REPO / "drac_ssl" / "__init__.py").read_text(encoding="utf-8")
    app = (REPO / "app" / "__init__.py").read_text(encoding="utf-8")
    assert "_os.environ.setdefault(_name, _value)" in package  # each only where unset, as the page says
    for name in ("NO_ALBUMENTATIONS_UPDATE", "HF_HUB_DISABLE_TELEMETRY"):
        assert drac_ssl.OFFLINE_ENVIRONMENT[name] == "1" and f"`{name}=1`" in page
    server_setup = app.split("def offline_server_environment", 1)[1]  # the server's, not the import's
    assert 'os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"' in server_setup
    assert "forces `GRADIO_ANALYTICS_ENABLED=False`" in page
    assert 'setdefault("HF_HUB_OFFLINE", "1")' in server_setup and "`HF_HUB_OFFLINE=1` unless set" in page
    assert "offline_server_environment()" in (REPO / "app" / "server.py").read_text(encoding="utf-8")
    assert "offline_server_environment()" in (REPO / "app" / "__main__.py").read_text(encoding="utf-8")


def test_the_run_folder_and_bundle_facts() -> None:
    from drac_ssl.config import RunConfig
    from drac_ssl.grading import bundle
    from drac_ssl.grading.training_images import HASH_HEX, TRAINING_IMAGES_KEY
    from drac_ssl.io import PRIVATE_FOLDER_MODE

    page = _page()
    assert RunConfig().private is True and PRIVATE_FOLDER_MODE == 0o700
    assert "made with mode 0700 (`run.private`, default true" in page
    assert TRAINING_IMAGES_KEY == "training_images" and HASH_HEX == 16
    assert "`training_images`: the first 16 hex digits of the SHA-256" in page
    assert "verify_weight_hashes" in bundle.__all__ and re.search(r"about 0\.1 s per 45 MB", page)
    assert "(running.md#patient-data)" in PAGE.read_text(encoding="utf-8")


def test_the_private_folder_opt_out_and_the_ingest_are_said() -> None:
    """Review F7: run.private=false is the opt-out of the training and umm; the ingest always
    makes its folder 0700; a group sharing runs/ opts out and uses its own umask or ACLs."""
    page = _page()
    running = " ".join((REPO / "docs" / "running.md").read_text(encoding="utf-8").split())
    assert "`run.private=false` is the opt-out for the training and `umm`" in page
    assert "ingest --out DIR` always makes `DIR` the same way" in page
    assert "`run.private=false` is the opt-out, for the training and `umm`" in running
    assert "always makes `DIR` with mode 0700" in running and "umask" in running and "setfacl" in running


def test_every_nginx_location_passes_the_host_and_scheme_and_the_sub_path_block_limits_its_login() -> None:
    """Trial F2: the nginx block set no X-Forwarded-Proto (gradio then wrote http:// links behind
    TLS), and its login limit ``^/login/?$`` never matches ``/drac/login`` on a sub-path. Each
    ``location`` sets both headers itself (nginx hands a server's proxy_set_header lines only to
    locations with none); the sub-path block limits ``/drac/login``, strips ``/drac``, and its
    path is what ``--root-path`` takes; both its locations rewrite the login cookies' ``Path=/``
    to ``/drac/`` (review F1: else the browser sends them to every site of the host)."""
    from app.__main__ import parse_args

    text = PAGE.read_text(encoding="utf-8")
    blocks = re.findall(r"^```nginx\n(.*?)^```", text, re.S | re.M)
    assert len(blocks) == 2, "the root block and the sub-path block"
    for block in blocks:
        locations = re.findall(r"location ([^{]+)\{(.*?)\n    \}", block, re.S)
        assert len(locations) == 2, block
        for where, body in locations:
            assert "proxy_set_header Host $host;" in body, where
            assert "proxy_set_header X-Forwarded-Proto $scheme;" in body, where
            assert "proxy_pass http://127.0.0.1:7860" in body, where
    (login, login_body), (prefix, prefix_body) = re.findall(r"location ([^{]+)\{(.*?)\n    \}", blocks[1], re.S)
    assert login.strip() == "~ ^/drac/login/?$" and "limit_req zone=drac_login" in login_body
    assert "rewrite ^/drac(/.*)$ $1 break;" in login_body
    assert prefix.strip() == "/drac/" and "proxy_pass http://127.0.0.1:7860/;" in prefix_body
    # review F1: gradio sets its login cookies with Path=/; both sub-path locations (the login
    # sets them, the logout deletes them) narrow them to the app's path
    assert "proxy_cookie_path / /drac/;" in login_body and "proxy_cookie_path / /drac/;" in prefix_body
    assert "proxy_cookie_path" not in blocks[0], "the root block needs no cookie path"
    assert "rewrites them, and the logout's deletions, to `Path=/drac/`" in _page()
    assert "`--root-path /drac`" in text and parse_args(["--root-path", "/drac/"]).root_path == "/drac"
    from app.reverse_proxy import gradio_root_path  # review F4: the variable's two forms, as said

    assert gradio_root_path("/drac/") == "/drac" and gradio_root_path("https://HOST/drac") == "https://HOST/drac"
    assert "`GRADIO_ROOT_PATH` variable is used when `--root-path` is not given, checked the same way" in _page()


def test_the_memory_figures_are_the_benchs_and_the_unit_file_starts_the_app() -> None:
    """Trial F5: the page gave no memory figure, and MPLCONFIGDIR only in docs/python.md. The
    figures it quotes are bench/results/app_load_memory.json's; the unit file sets MPLCONFIGDIR
    to the folder its CacheDirectory= makes, and its ExecStart is a command line the app takes;
    review F5: a configuration error (exit code 2) is not restarted, and /tmp is the service's own."""
    import json
    import shlex

    from app.__main__ import parse_args

    page = _page()
    record = json.loads((REPO / "bench" / "results" / "app_load_memory.json").read_text(encoding="utf-8"))
    memory, large = record["server_memory_mib"], record["large_image"]
    said = [f"{memory['started']['vmrss_mib']:.0f} MiB resident once it answers",
            f"{memory['after_rounds_and_batch']['vmrss_mib']:.0f} MiB after a warm-up request",
            f"peak until then {memory['after_rounds_and_batch']['vmhwm_mib']:.0f} MiB",
            f"{large['side_px']} x {large['side_px']} 16-bit RGB PNG ({large['file_mib']} MiB",
            f"took the peak to {memory['after_large_image']['vmhwm_mib']:.0f} MiB",
            f"going back to {memory['after_large_image']['vmrss_mib']:.0f} MiB"]
    assert [words for words in said if words not in page] == []
    assert record["config"]["clients"] == 1 and record["queue"]["model_workers"] == 1
    # review F3: one run, on a loaded machine, one client: said as such
    load, cores = record["results"]["load_avg_1min_during"], record["environment"]["cpu_cores"]
    assert "VERY LOADED" in record["machine_note"] and load["min"] == load["max"]
    assert (f"one run, on a busy machine: its `machine_note` says VERY LOADED, a 1-minute load "
            f"average of {load['max']} on the {cores} cores") in page
    config = record["config"]
    assert config["rounds"] == 1 and f"That is {config['clients']} client sending " \
        f"{config['requests_per_client']} requests: the memory after hours of use by many clients" in page
    assert "`--concurrency 1`, one thread" in page and record["app_threads"] == 1
    unit = re.search(r"^```ini\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.S | re.M)
    assert unit is not None, "the page shows no systemd unit"
    lines = dict(line.split("=", 1) for line in unit.group(1).splitlines() if "=" in line and not line.startswith("#"))
    assert lines["Environment"] == f"MPLCONFIGDIR=/var/cache/{lines['CacheDirectory']}"
    # review F5: no restart loop on a configuration error (USAGE_ERROR), a /tmp of its own
    from drac_ssl.exit_codes import USAGE_ERROR

    assert lines["Restart"] == "on-failure" and lines["RestartPreventExitStatus"] == str(USAGE_ERROR)
    assert lines["PrivateTmp"] == "yes" and "`RestartPreventExitStatus=2`: the app exits with code 2" in page
    command = shlex.split(lines["ExecStart"])
    assert command[1:3] == ["-m", "app"]
    args = parse_args(command[3:])
    assert args.root_path == "/drac" and args.audit_log.startswith(f"/var/log/{lines['LogsDirectory']}/")


def test_the_unit_file_waits_between_restarts_so_a_busy_run_is_tried_again() -> None:
    """Review F3: the unit set no RestartSec: an app exiting 75 (RUN_BUSY, its --bundle RUN still
    training) was restarted 5 times within systemd's default 100 ms apart, hit the start limit
    (5 starts in StartLimitIntervalSec=10 s) and stayed failed. Restarts a minute apart never
    reach it; the page says why."""
    from drac_ssl.exit_codes import RUN_BUSY

    unit = re.search(r"^```ini\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.S | re.M)
    assert unit is not None, "the page shows no systemd unit"
    lines = dict(line.split("=", 1) for line in unit.group(1).splitlines() if "=" in line and not line.startswith("#"))
    start_limit_interval_s, start_limit_burst = 10, 5  # systemd's defaults (the unit sets neither)
    assert "StartLimitIntervalSec" not in lines and "StartLimitBurst" not in lines
    assert int(lines["RestartSec"]) * (start_limit_burst - 1) > start_limit_interval_s
    assert str(RUN_BUSY) not in lines["RestartPreventExitStatus"].split()
    assert (f"`RestartSec=60`: a minute between restarts. systemd's default, 100 ms, restarts an app that "
            f"exits at once (exit {RUN_BUSY} while the training runs)") in _page()


def test_the_per_request_memory_at_the_default_limits_is_stated_as_a_hand_measurement() -> None:
    """A QA test (F6): the memory advice gave the bench's server peaks but no figure per request
    at the default image limits; the tester's hand measurement is stated next to MemoryMax, as
    one, and the size it measured is within the default limits it is said of."""
    from drac_ssl.grading.image_file import InputLimits

    page = _page()
    section = page.split("**Memory.**", 1)[1].split("**The unit file.**", 1)[0]
    assert "a hand measurement" in section and "MemoryMax=3G" in section
    assert "one 6000 x 6000 PNG graded with Grad-CAM took 47 s and a peak RSS of 1.45 GiB, against 1.02 GiB" in section
    # one unit, as the rest of the page (reviewer F6): the tester's GB only as reported
    assert " GB" not in section.replace("(reported as 1.56 GB and 1.1 GB)", ""), section
    limits = InputLimits()
    assert 6000 <= limits.max_side and 6000 * 6000 <= limits.max_pixels
