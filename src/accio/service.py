"""The composition root: the scheduler process of one Accio home.

It is the only module that builds the whole stack: the runtime (storage, artifacts, registry),
the executor, the scheduler loop, and, on request, the REST API and web UI, served by processes
of their own (:mod:`accio.server.workers`) that read the database directly and reach the
scheduler only through the database and the control channel. Lower layers
never build higher ones; :mod:`accio.engine.daemon` only locates, starts and stops this process.

::

    python -m accio.service --home ~/.accio [--idle-timeout 600] [--http 127.0.0.1:8765]
        [--strict-http] [--detach]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accio.config import Settings, parse_http_address
from accio.engine import daemon
from accio.errors import AccioError, UsageError

if TYPE_CHECKING:
    from accio.engine.scheduler import Scheduler
    from accio.server.http import ServerHandle
    from accio.server.workers import HttpWorkers

    #: The web server of a scheduler: its own processes, or a thread (``http_workers = 0``).
    WebServer = HttpWorkers | ServerHandle

log = logging.getLogger("accio.service")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings, address: str) -> None:
    """A UsageError (exit 1) for serving a non-loopback address with authentication off."""
    host, _ = parse_http_address(address)
    if not settings.auth and not is_loopback(host):
        raise UsageError(
            f"refusing to serve {address} with authentication off: anyone who can reach it "
            "could run code here. Set ACCIO_AUTH=on (and create users and tokens with "
            "'accio user add' and 'accio token create'), or serve on 127.0.0.1"
        )


def _parses(address: str) -> bool:
    try:
        parse_http_address(address)
    except UsageError:
        return False
    return True


def serve_http(settings: Settings, address: str) -> WebServer:
    """The REST API and web UI over this home: ``settings.http_workers`` processes of their own
    (:mod:`accio.server.workers`), or with 0 a thread of the calling process.

    Raises UsageError for an address that is not ``HOST:PORT`` and RuntimeFailure when it
    cannot be bound (port in use, unknown host) or no web-server process starts.
    """
    from accio.server.http import bind_socket

    check_exposure(settings, address)
    host, port = parse_http_address(address)
    if settings.http_workers == 0:
        handle: WebServer = _serve_in_thread(settings, host, port)
    else:
        from accio.server.workers import HttpWorkers

        reuse_port = hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")
        workers = HttpWorkers(
            bind_socket(host, port, reuse_port=reuse_port),
            host,
            settings.http_workers,
            _web_env(settings),
            reuse_port=reuse_port,
        )
        workers.spawn()  # they start while the scheduler does: see _web_ready
        handle = workers
    daemon.write_url(settings.home, handle.url)
    log.info("serving the web UI and REST API at %s", handle.url)
    return handle


def _web_env(settings: Settings) -> dict[str, str]:
    """The environment of a web-server process: exactly this scheduler's settings."""
    env = daemon.scheduler_env(settings)
    env["ACCIO_AUTH"] = "on" if settings.auth else "off"
    env["ACCIO_ALLOWED_HOSTS"] = ",".join(settings.allowed_hosts)
    return env


def _serve_in_thread(settings: Settings, host: str, port: int) -> ServerHandle:
    from accio.client.local import LocalClient
    from accio.server.app import create_app
    from accio.server.auth import allowed_hosts
    from accio.server.http import serve_in_thread

    client = LocalClient(settings=settings, autostart=False)
    app = create_app(
        settings,
        client=client,
        owns_client=True,
        max_body_bytes=settings.max_body_bytes,
        allowed_hosts=allowed_hosts(host, settings.allowed_hosts),
    )
    try:
        return serve_in_thread(app, host, port)
    except BaseException:
        client.close()
        raise


def _open_http(settings: Settings, address: str, strict: bool) -> tuple[WebServer | None, str]:
    """The web server and, when it is not where asked, why. Lenient (an auto-started
    scheduler): a busy port falls back to a free one, and a failure to none at all."""
    try:
        return serve_http(settings, address), ""
    except AccioError as exc:
        if strict:
            raise
        first = str(exc)
    try:
        host, _ = parse_http_address(address)
    except AccioError:
        host = "127.0.0.1"
    try:
        handle = serve_http(settings, f"{host}:0")
    except AccioError as exc:
        log.error("no web UI: %s; %s", first, exc)
        return None, f"{first}; the scheduler runs without the web UI"
    log.warning("%s; serving at %s instead", first, handle.url)
    return handle, f"{first}; serving at {handle.url} instead"


Ready = Callable[[dict[str, Any]], None]


def serve(
    settings: Settings,
    *,
    idle_timeout: float | None = None,
    http: str | None = None,
    strict_http: bool = False,
    ready: Ready | None = None,
) -> int:
    """Run the scheduler loop until SIGTERM (or idle for ``idle_timeout`` seconds); with
    ``http`` (``host:port``) also serve the REST API and web UI, from processes of their own
    (``settings.http_workers``; 0: a thread of this one).

    ``ready`` hears once how the start went (``state``: ready, busy or failed, with ``url``,
    ``message`` and ``code``): a detached launcher waits for it. Returns 0 at once when another
    scheduler holds the home's lock, and 4 (1 for a malformed address) when ``strict_http``
    and the web server cannot start: no scheduler is left running then.
    """
    if http is not None and _parses(http):  # a malformed one is handled below (fallback)
        check_exposure(settings, http)  # before anything starts
    tell: Ready = ready or (lambda report: None)
    failure: dict[str, Any] | None = None
    with daemon.home_lock(settings.home, patience=daemon.START_PATIENCE_S) as handle:
        if handle is None:
            log.info("a scheduler already runs for %s", settings.home)
            tell({"state": "busy", "pid": daemon.running_pid(settings.home)})
            return 0
        with contextlib.suppress(OSError):  # left behind by a killed scheduler
            daemon.url_path(settings.home).unlink()
        daemon.pid_path(settings.home).write_text(str(os.getpid()))
        stopping = False

        def request_stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        server: WebServer | None = None
        message = ""
        if http is not None:  # first: its processes start while this one loads the rest
            try:
                server, message = _open_http(settings, http, strict_http)
            except AccioError as exc:
                log.error("cannot serve the web UI at %s: %s", http, exc)
                failure = {"state": "failed", "message": str(exc), "code": exc.exit_code}
        try:
            if failure is None:
                server, message = _run(
                    settings, server, message, strict_http, idle_timeout, lambda: stopping, tell
                )
        except AccioError as exc:
            failure = {"state": "failed", "message": str(exc), "code": exc.exit_code}
        finally:
            if server is not None:
                server.stop()
                with contextlib.suppress(OSError):
                    daemon.url_path(settings.home).unlink()
            with contextlib.suppress(OSError):
                daemon.pid_path(settings.home).unlink()
    if failure is not None:  # told once the lock is released: no scheduler is left running
        tell(failure)
        return int(failure["code"])
    return 0


def _run(
    settings: Settings,
    server: WebServer | None,
    message: str,
    strict_http: bool,
    idle_timeout: float | None,
    stopping: Callable[[], bool],
    tell: Ready,
) -> tuple[WebServer | None, str]:
    """Build the executor, runtime and scheduler, say ready once the web server serves, and
    run the loop; returns the web server still to stop. Raises AccioError when the web server
    does not start and ``strict_http``."""
    from accio.cache.stores import store_locator
    from accio.engine.runtime import open_runtime
    from accio.executors.base import Executor
    from accio.executors.local import LocalExecutor

    # Workers (and their fork server's imports) start while this process loads the rest.
    executor: Executor = LocalExecutor(
        store_locator(settings), slots=settings.cpus, plugins=settings.plugins
    )
    if settings.executor == "local":
        executor.start()
    try:
        runtime = open_runtime(settings)
        try:
            if settings.executor != "local":  # $ACCIO_EXECUTOR: dask (or inline, to debug)
                executor = runtime.executor()
            scheduler = runtime.scheduler(control=True, executor=executor)
            try:
                server, message = _web_ready(server, message, strict_http)
                url = server.url if server is not None else None
                tell({"state": "ready", "pid": os.getpid(), "url": url, "message": message})
                _loop(scheduler, idle_timeout, stopping, server)
            finally:
                scheduler.close()
        finally:
            runtime.close()
    finally:
        executor.stop()
    return server, message


def _web_ready(
    server: WebServer | None, message: str, strict: bool
) -> tuple[WebServer | None, str]:
    """Wait until the web-server processes serve; lenient, run without them if they fail."""
    wait = getattr(server, "wait", None)
    if server is None or wait is None:
        return server, message
    try:
        wait()
    except AccioError as exc:
        if strict:
            raise
        log.error("no web UI: %s", exc)
        server.stop()
        return None, f"{exc}; the scheduler runs without the web UI"
    return server, message


def _loop(
    scheduler: Scheduler,
    idle_timeout: float | None,
    stopping: Callable[[], bool],
    web: WebServer | None = None,
) -> None:
    """Step the scheduler until asked to stop, or idle for ``idle_timeout`` seconds; restart
    web-server processes that died."""
    sys.setswitchinterval(0.0005)  # see scheduler.fast_thread_switching
    scheduler.load_unfinished()
    supervise = getattr(web, "supervise", None)
    idle_since = time.time()
    while not stopping():
        scheduler.step(0.05)
        if supervise is not None:
            supervise()
        if scheduler.busy:
            idle_since = time.time()
        elif idle_timeout is not None and time.time() - idle_since > idle_timeout:
            return


def _detach(home: Path) -> Ready:
    """Fork: the parent (the launcher) waits for the child's ready report, prints it as one JSON
    line and exits with its code; the child, the scheduler, writes its output to the log."""
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            line = pipe.readline().decode("utf-8", "replace").strip()
        if not line:
            line = json.dumps(
                {"state": "failed", "code": 5, "message": "the scheduler exited at start"}
            )
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        os._exit(int(json.loads(line).get("code") or 0))
    os.close(read_end)
    log_fd = os.open(daemon.log_path(home), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    sys.stdout.flush()
    os.dup2(log_fd, 1)  # the launcher's stdout is its caller's pipe: let it reach EOF
    os.dup2(log_fd, 2)
    os.close(log_fd)
    told = False

    def ready(report: dict[str, Any]) -> None:
        nonlocal told
        if told:
            return
        told = True
        with contextlib.suppress(OSError):
            os.write(write_end, (json.dumps(report) + "\n").encode())
            os.close(write_end)

    return ready


def main(argv: list[str] | None = None) -> None:
    """``python -m accio.service``: what :func:`accio.engine.daemon.start_background` runs."""
    parser = argparse.ArgumentParser(prog=f"python -m {daemon.SERVICE_MODULE}")
    parser.add_argument("--home", required=True)
    parser.add_argument("--idle-timeout", type=float, default=None)
    parser.add_argument("--detach", action="store_true", help="fork into the background first")
    parser.add_argument("--http", default=None, help="also serve the web UI at HOST:PORT")
    parser.add_argument(
        "--strict-http", action="store_true", help="fail (exit 4) if HOST:PORT cannot be served"
    )
    args = parser.parse_args(argv)
    home = Path(args.home).expanduser().absolute()
    home.mkdir(parents=True, exist_ok=True)
    ready = _detach(home) if args.detach else None
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env({**os.environ, "ACCIO_HOME": str(home)})
        code = serve(
            settings,
            idle_timeout=args.idle_timeout,
            http=args.http,
            strict_http=args.strict_http,
            ready=ready,
        )
    except AccioError as exc:
        log.error("%s", exc)
        if ready is not None:
            ready({"state": "failed", "message": str(exc), "code": exc.exit_code})
        code = exc.exit_code
    except OSError as exc:  # the environment (a path, a permission, a full disk): exit 4
        log.error("the scheduler cannot start: %s", exc)
        if ready is not None:
            ready({"state": "failed", "message": f"{exc}", "code": 4})
        code = 4
    except Exception as exc:  # the traceback goes to the log file, never to a terminal
        if args.detach:
            log.exception("the scheduler failed")
        else:
            log.error(
                "the scheduler failed: %s: %s (details in %s)",
                type(exc).__name__,
                exc,
                daemon.log_path(home),
            )
            with open(daemon.log_path(home), "a") as out:
                traceback.print_exc(file=out)
        if ready is not None:
            ready({"state": "failed", "message": f"{type(exc).__name__}: {exc}", "code": 5})
        code = 5
    sys.exit(code)


if __name__ == "__main__":
    main()
