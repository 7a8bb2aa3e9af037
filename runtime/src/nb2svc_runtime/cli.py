"""The command line of a generated service: ``serve``, ``healthcheck``, ``score`` and
``retrain``.

    python -m <package> serve
    <name> serve --port 8000
    python -m <package> healthcheck    # exit 0 once /readyz says ready
    python -m <package> score rows.csv -o scored.csv    # nb2svc_runtime.scoring
    python -m <package> retrain --data new.csv    # nb2svc_runtime.retrain

Imports neither fastapi, prometheus_client nor the app: the supervisor and Docker's
HEALTHCHECK stay light, and ``PROMETHEUS_MULTIPROC_DIR`` is set before any worker
imports the app. uvicorn is imported by the commands that serve, not by ``score``
or ``retrain``, whose start-up is part of every batch job's time.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import ipaddress
import logging
import logging.config
import math
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .artifacts import ArtifactError, Artifacts
from .log import name_service_logger
from .spec import ServiceInfo

if TYPE_CHECKING:
    import uvicorn

#: prometheus-client's multiprocess mode: where every worker keeps its metrics.
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
#: Environment variables sizing native thread pools (OpenMP, BLAS), read at import.
THREAD_POOL_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


@dataclass(frozen=True)
class Service:
    """What the command line needs of a generated package."""

    info: ServiceInfo
    get_settings: Callable[[], Any]
    artifacts: Artifacts

    @property
    def logger(self) -> logging.Logger:
        return logging.getLogger(self.info.package)


def port_number(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, not {value}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser(info: ServiceInfo) -> argparse.ArgumentParser:
    from uvicorn.config import LOG_LEVELS

    parser = argparse.ArgumentParser(
        prog=info.name, description=f"{info.title} prediction service."
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {info.version}"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="run the HTTP service",
        description=(
            f"Run the HTTP service. Options override the {info.env_prefix}* "
            "environment settings."
        ),
    )
    serve.add_argument("--host", help="interface to listen on")
    serve.add_argument("--port", type=port_number, help="port to listen on")
    serve.add_argument(
        "--workers",
        type=positive_int,
        help="worker processes [default: one per available CPU]",
    )
    serve.add_argument(
        "--threads", type=positive_int, help="threads per worker running the model"
    )
    serve.add_argument(
        "--log-level", choices=sorted(LOG_LEVELS), type=str.lower, help="log level"
    )
    check = commands.add_parser(
        "healthcheck",
        help="exit 0 if the local service is ready (for HEALTHCHECK)",
        description="GET /readyz on 127.0.0.1 and the configured port.",
    )
    check.add_argument("--port", type=port_number, help="port the service listens on")
    check.add_argument("--timeout", type=float, default=4.0, help="seconds to wait")
    commands.add_parser(  # parsed by nb2svc_runtime.scoring.cli: listed here for --help
        "score", add_help=False, help="score a CSV, Parquet or JSON lines file"
    )
    commands.add_parser(  # parsed by nb2svc_runtime.retrain.cli: listed here for --help
        "retrain",
        add_help=False,
        help="retrain on new data, compare with the current model, register if better",
    )
    return parser


def healthcheck(service: Service, args: argparse.Namespace) -> int:
    port = args.port if args.port is not None else service.get_settings().port
    import urllib.request

    url = f"http://127.0.0.1:{port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            return 0 if response.status == 200 else 1
    except (OSError, ValueError):  # refused, timed out, or 503 (an HTTPError)
        return 1


def log_config(package: str, level: str) -> dict[str, Any]:
    """Uvicorn's logging config plus the package's logger, in every worker."""
    from uvicorn.config import LOG_LEVELS, LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"][package] = {
        "handlers": ["default"],
        "level": LOG_LEVELS[level],
        "propagate": False,
    }
    # The request log: one JSON line per request on stdout, nothing else on the line.
    config["formatters"]["json_line"] = {"format": "%(message)s"}
    config["handlers"]["request_log"] = {
        "class": "logging.StreamHandler",
        "formatter": "json_line",
        "stream": "ext://sys.stdout",
    }
    config["loggers"][f"{package}.access"] = {
        "handlers": ["request_log"],
        "level": LOG_LEVELS[level],
        "propagate": False,
    }
    return config


def _exit_cleanly(signum: int, frame: object) -> None:
    sys.exit(0)


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` stands for is a loopback address."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: what it resolves to
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return bool(infos) and all(
        ipaddress.ip_address(str(info[4][0]).partition("%")[0]).is_loopback
        for info in infos
    )


def check_authentication(service: Service, host: str, port: int) -> str | None:
    """Why serving on ``host`` without an API key is refused, or None.

    Logs what is open either way: a service without a key answers anyone who can
    reach it, which on loopback is this machine, elsewhere a network.
    """
    settings = service.get_settings()
    logger, prefix = service.logger, service.info.env_prefix
    if settings.api_key is not None:
        logger.info("API key required on every route but /healthz and /readyz")
        return None
    if is_loopback(host):
        logger.info(
            "no API key set: every route is open to clients on this machine (%s)",
            host,
        )
        return None
    if not settings.allow_unauthenticated:
        return (
            f"no API key set and {host}:{port} is not a loopback address: set "
            f"{prefix}API_KEY, or {prefix}ALLOW_UNAUTHENTICATED=true to serve "
            "every route to anyone who can reach it"
        )
    logger.warning(
        "no API key set: every route is open to anyone who can reach %s:%d "
        "(%sALLOW_UNAUTHENTICATED=true)",
        host,
        port,
        prefix,
    )
    return None


def settings_errors(env_prefix: str, exc: ValidationError) -> list[str]:
    """One line per invalid setting, named by its environment variable."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        name = "_".join(str(part) for part in error["loc"]).upper()
        if not name.startswith(env_prefix) and name != "PORT":
            name = env_prefix + name
        lines.append(f"invalid setting {name}: {error['msg']}")
    return lines


def available_cpus() -> int:
    """CPUs this process may use: its affinity, capped by a cgroup v2 CPU quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        count = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


def _configure_process(service: Service, args: argparse.Namespace) -> None:
    """What every worker inherits: head limits, thread counts, clean signal exits."""
    from ._internals.uvicorn_protocol import HeadLimits

    settings = service.get_settings()
    HeadLimits(
        receive_timeout=settings.receive_timeout,
        max_request_line=settings.max_request_line,
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
    ).export()
    if args.threads is not None:  # the app reads it from its settings
        os.environ[f"{service.info.env_prefix}THREADS"] = str(args.threads)
        clear = getattr(service.get_settings, "cache_clear", None)
        if clear is not None:
            clear()
    if settings.native_threads:
        # Parallelism comes from workers and concurrent requests; threads inside one
        # prediction fight them for the CPUs and add latency. An explicit variable wins.
        for name in THREAD_POOL_VARIABLES:
            os.environ.setdefault(name, str(settings.native_threads))
    # uvicorn finishes in-flight requests on SIGTERM/SIGINT (after the app's drain),
    # then re-raises the signal with the handlers installed before it started: make
    # that a clean exit 0, as supervisors (Docker, Kubernetes, systemd) expect.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, _exit_cleanly)


def _run(config: uvicorn.Config, workers: int) -> int:
    from ._internals.uvicorn_server import run_server, run_workers
    from .lifecycle import READY_DIR_VARIABLE, WORKERS_VARIABLE

    if workers > 1:
        # The workers keep their metrics in files of a new folder, which /metrics
        # adds up whichever worker answers, and mark themselves ready in another, so
        # that /readyz waits for them all; both removed when the service stops.
        metrics_dir = tempfile.mkdtemp(prefix="nb2svc-metrics-")
        ready_dir = tempfile.mkdtemp(prefix="nb2svc-ready-")
        os.environ[METRICS_DIR_VARIABLE] = metrics_dir
        os.environ[READY_DIR_VARIABLE] = ready_dir
        os.environ[WORKERS_VARIABLE] = str(workers)
        try:
            return run_workers(config)
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)
            shutil.rmtree(ready_dir, ignore_errors=True)
    for name in (METRICS_DIR_VARIABLE, READY_DIR_VARIABLE, WORKERS_VARIABLE):
        os.environ.pop(name, None)  # one process: its own metrics and readiness
    return run_server(config)


def serve(service: Service, args: argparse.Namespace) -> int:
    import uvicorn
    from uvicorn.config import LOG_LEVELS

    from ._internals.uvicorn_protocol import DeadlineHttpProtocol
    from ._internals.uvicorn_server import STARTUP_FAILURE

    settings = service.get_settings()
    host: str = args.host if args.host is not None else settings.host
    port: int = args.port if args.port is not None else settings.port
    cpus = available_cpus()
    workers: int = args.workers or settings.workers or cpus
    level = str(args.log_level or settings.log_level).lower()
    if level not in LOG_LEVELS:
        choices = ", ".join(sorted(LOG_LEVELS))
        raise SystemExit(f"log level must be one of {choices}, not {level!r}")
    logging_config = log_config(service.info.package, level)
    logging.config.dictConfig(logging_config)
    logger = name_service_logger(service.info.package)
    # Refuse tampered or missing artifacts, and an open service on a network, before
    # binding the port: one log line.
    try:
        service.artifacts.verify()
    except ArtifactError as exc:
        logger.error("start-up stopped: %s", exc)
        return STARTUP_FAILURE
    refusal = check_authentication(service, host, port)
    if refusal is not None:
        logger.error("start-up stopped: %s", refusal)
        return STARTUP_FAILURE
    logger.info(
        "starting %d worker%s (%d CPUs available)",
        workers,
        "" if workers == 1 else "s",
        cpus,
    )
    _configure_process(service, args)
    config = uvicorn.Config(
        service.info.app_path,
        host=host,
        port=port,
        workers=workers,
        http=DeadlineHttpProtocol,  # httptools, with a deadline for request headers
        log_level=level,
        log_config=logging_config,
        access_log=False,  # the app logs requests without query strings or values
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout),
    )
    return _run(config, workers)


def run_cli(
    info: ServiceInfo,
    get_settings: Callable[[], Any],
    artifacts: Artifacts,
    argv: Sequence[str] | None = None,
    *,
    input_kind: str | None = None,
) -> int:
    """``serve``, ``healthcheck`` or (given the service's ``input_kind``) ``score``;
    returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["score"] and input_kind is not None:
        return score(info, artifacts, input_kind, argv[1:])
    if argv[:1] == ["retrain"]:
        # The kernel and the registry client (the `retrain` extra): imported only here.
        from .retrain.cli import main as retrain_main

        return retrain_main(info, artifacts, argv[1:])
    service = Service(info, get_settings, artifacts)
    args = build_parser(info).parse_args(argv)
    try:
        if args.command == "serve":
            return serve(service, args)
        if args.command == "healthcheck":
            return healthcheck(service, args)
    except ValidationError as exc:
        # One line per setting, never the value (it may be a key): a start-up failure.
        from ._internals.uvicorn_server import STARTUP_FAILURE

        logging.config.dictConfig(log_config(info.package, "info"))
        for line in settings_errors(info.env_prefix, exc):
            service.logger.error("start-up stopped: %s", line)
        return STARTUP_FAILURE if args.command == "serve" else 1
    raise AssertionError(f"unhandled command {args.command!r}")


def score(
    info: ServiceInfo, artifacts: Artifacts, input_kind: str, argv: Sequence[str]
) -> int:
    """``score``: files through the package's pipeline (``nb2svc_runtime.scoring``),
    imported only here, like the engines it may start."""
    from .scoring.cli import main as score_main

    schemas = importlib.import_module(f"{info.package}.schemas")
    return score_main(
        argv,
        package=info.package,
        schemas=schemas,
        kind=input_kind,
        artifacts_dir=artifacts.folder,
        artifacts=artifacts.sha256,
        prog=info.name,
        model_uri_variable=artifacts.model_uri_variable,
    )
