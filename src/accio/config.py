"""Settings: one object built from the environment once, then passed down explicitly.

Nothing else in Accio reads ``os.environ``; code that needs the home directory, the database or
the acting user takes a :class:`Settings`. That keeps tests hermetic (build one from a dict).
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from accio.errors import UsageError

ExecutorName = Literal["local", "inline", "dask", "slurm", "pbs", "sge"]
EXECUTOR_NAMES: tuple[str, ...] = get_args(ExecutorName)
#: Executors that run nodes in batch jobs (a dask-jobqueue cluster, scaled to the work).
BATCH_EXECUTORS: tuple[str, ...] = ("slurm", "pbs", "sge")
#: Default most batch jobs (Dask workers) running at once (``$ACCIO_MAX_WORKERS``).
DEFAULT_MAX_WORKERS = 4
_MEMORY_RE = re.compile(r"^\s*(\d+(\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}

#: Default cap on a sweep's children: above it, a definition is refused before anything expands.
DEFAULT_MAX_CHILDREN = 1_000_000

#: Used when the platform cannot tell us its RAM (``sysconf`` is missing on some systems).
FALLBACK_MEMORY_MB = 1024
#: Where ``accio server start`` serves the web UI and REST API unless ``$ACCIO_HTTP`` says.
DEFAULT_HTTP = "127.0.0.1:8765"
#: ``$ACCIO_HTTP`` values that turn the web UI and REST API off (the scheduler runs alone).
HTTP_OFF = ("off", "none", "no", "false", "0")
#: Largest HTTP request body the server reads (``$ACCIO_MAX_BODY_MB``); above it, 413.
DEFAULT_MAX_BODY_BYTES = 16 * 2**20


def detect_cpus() -> int:
    """CPUs this machine offers; at least 1."""
    return os.cpu_count() or 1


def detect_memory_mb() -> int:
    """Total physical RAM in MiB, or :data:`FALLBACK_MEMORY_MB` when it cannot be read."""
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return FALLBACK_MEMORY_MB
    if pages <= 0 or page_size <= 0:
        return FALLBACK_MEMORY_MB
    return max(1, pages * page_size // 2**20)


@dataclass(frozen=True)
class Settings:
    """Where Accio keeps its state, who is acting, and what this machine may use.

    Attributes
    ----------
    home
        Root of local state (``$ACCIO_HOME``, default ``~/.accio``).
    database_url
        SQLAlchemy URL of the run database (``$ACCIO_DATABASE_URL``, default SQLite in ``home``).
    artifacts_dir
        Root of the content-addressed artifact store (``home/artifacts``).
    user
        Acting user, recorded as owner (``$ACCIO_USER``, default the OS login).
    cpus
        CPUs the local executor may use (``$ACCIO_CPUS``, default all).
    memory_mb
        Memory the local executor may use, in MiB (``$ACCIO_MEMORY_MB``, default total RAM).
    executor
        Executor the scheduler runs nodes with (``$ACCIO_EXECUTOR``: local, inline, dask, or a
        batch system: slurm, pbs, sge).
    dask_address
        Address of a running dask scheduler (``$ACCIO_DASK_SCHEDULER``); None starts a local
        cluster when ``executor`` is dask.
    max_children
        Largest sweep accepted (``$ACCIO_MAX_CHILDREN``, default 10^6): the child count is
        checked before anything is expanded, so a typo such as ``repeat: 999999`` cannot fill
        memory.
    plugins
        Extra operator plugins, ``module:attribute`` targets (``$ACCIO_PLUGINS``, comma-separated).
    server
        URL of a remote Accio server the client talks to (``$ACCIO_SERVER``); None is local.
    http
        Address the scheduler serves the web UI and REST API on (``$ACCIO_HTTP``).
    serve_http
        Whether a scheduler serves them at all (``$ACCIO_HTTP=off`` says no).
    http_workers
        Web-server processes the scheduler starts (``$ACCIO_HTTP_WORKERS``, default 1): they
        read the database directly, so requests never wait for the scheduler; 0 serves from a
        thread of the scheduler process instead.
    max_body_bytes
        Largest request body the HTTP server accepts (``$ACCIO_MAX_BODY_MB``, default 16 MiB).
    artifacts_url
        Artifact store URL (``$ACCIO_ARTIFACTS_URL``: ``s3://bucket/prefix``, any fsspec URL,
        or a shared folder); None keeps ``artifacts_dir``. Credentials: the AWS environment.
    s3_endpoint
        S3 endpoint of ``artifacts_url`` (``$ACCIO_S3_ENDPOINT``, e.g. ``http://host:8333``).
    max_workers
        Batch executors: most jobs (one Dask worker each) at once (``$ACCIO_MAX_WORKERS``,
        default 4); none while idle.
    job_cores, job_memory, job_queue, job_walltime
        Batch executors: each job's cores (``$ACCIO_JOB_CORES``, default 1), memory
        (``$ACCIO_JOB_MEMORY``, e.g. ``4GiB``, default 2GiB), queue or partition
        (``$ACCIO_JOB_QUEUE``, default the system's) and walltime (``$ACCIO_JOB_WALLTIME``,
        default 01:00:00).
    job_host
        Batch executors: the address the Dask scheduler listens on (``$ACCIO_JOB_HOST``;
        default: dask-jobqueue's choice). A loopback address also binds the workers to it.
    job_idle_s
        Batch executors: seconds an idle worker's job lives before it ends
        (``$ACCIO_JOB_IDLE_S``, default 30).
    job_dir
        Batch executors: the workers' working and scratch directory, a path on the compute
        nodes, created by each job (``$ACCIO_JOB_DIR``; default ``home/jobqueue/workers``).
    job_log_dir
        Batch executors: where the batch system writes each job's stdout and stderr, a folder
        that exists on the compute nodes (``$ACCIO_JOB_LOG_DIR``; made from here when this
        machine sees it; default ``home/jobqueue/logs``, for a home on a shared filesystem).
    job_prologue
        Batch executors: shell commands each job runs before its worker starts
        (``$ACCIO_JOB_PROLOGUE``, e.g. ``module load python; export HOME=/scratch/$USER``).
    auth
        Whether the server requires a signed-in user (``$ACCIO_AUTH=on``; default off, which
        is only allowed on a loopback address).
    allowed_hosts
        Host header values the server accepts besides its bound address, ``localhost`` and
        ``127.0.0.1`` (``$ACCIO_ALLOWED_HOSTS``, comma-separated).
    token
        API token a remote client sends (``$ACCIO_TOKEN``); None: the credentials file's.
    credentials_file
        Where ``accio login`` keeps tokens by server URL (``~/.config/accio/credentials.json``).
    cluster
        Named server the client talks to (``$ACCIO_CLUSTER``; ``--cluster`` wins over it, it
        wins over ``$ACCIO_SERVER``, which wins over the clusters file's default).
    clusters_file
        The named servers and their tokens (``$ACCIO_CLUSTERS_FILE``, else ``clusters.toml``
        beside ``credentials_file``).
    """

    home: Path
    database_url: str
    artifacts_dir: Path
    user: str
    cpus: int = field(default_factory=detect_cpus)
    memory_mb: int = field(default_factory=detect_memory_mb)
    executor: ExecutorName = "local"
    dask_address: str | None = None
    max_children: int = DEFAULT_MAX_CHILDREN
    plugins: str = ""
    server: str | None = None
    http: str = DEFAULT_HTTP
    serve_http: bool = True
    http_workers: int = 1
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    artifacts_url: str | None = None
    s3_endpoint: str | None = None
    max_workers: int = DEFAULT_MAX_WORKERS
    job_cores: int = 1
    job_memory: str = "2GiB"
    job_queue: str | None = None
    job_walltime: str = "01:00:00"
    job_host: str | None = None
    job_idle_s: int = 30
    job_dir: Path | None = None
    job_log_dir: Path | None = None
    job_prologue: str | None = None
    auth: bool = False
    allowed_hosts: tuple[str, ...] = ()
    token: str | None = field(default=None, repr=False)
    credentials_file: Path | None = None
    cluster: str | None = None
    clusters_file: Path | None = None

    @property
    def job_memory_mb(self) -> int:
        """``job_memory`` in MiB (at least 1)."""
        return max(1, memory_bytes(self.job_memory) // 2**20)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Read the settings from ``env`` (the process environment by default) over the
        configuration files (:func:`with_config_files`)."""
        env = with_config_files(env)
        home_text = env.get("ACCIO_HOME") or "~/.accio"
        home = Path(home_text).expanduser().absolute()
        database_url = env.get("ACCIO_DATABASE_URL") or f"sqlite:///{home / 'accio.db'}"
        user = env.get("ACCIO_USER") or getpass.getuser()
        cpus = _positive_int(env, "ACCIO_CPUS", detect_cpus)
        memory_mb = _positive_int(env, "ACCIO_MEMORY_MB", detect_memory_mb)
        max_children = _positive_int(env, "ACCIO_MAX_CHILDREN", lambda: DEFAULT_MAX_CHILDREN)
        body_mb = _positive_int(env, "ACCIO_MAX_BODY_MB", lambda: DEFAULT_MAX_BODY_BYTES >> 20)
        http = (env.get("ACCIO_HTTP") or "").strip()
        serve_http = http.lower() not in HTTP_OFF
        return cls(
            home=home,
            database_url=database_url,
            artifacts_dir=home / "artifacts",
            user=user,
            cpus=cpus,
            memory_mb=memory_mb,
            executor=_executor(env.get("ACCIO_EXECUTOR")),
            dask_address=(env.get("ACCIO_DASK_SCHEDULER") or "").strip() or None,
            max_children=max_children,
            plugins=read_plugins(env),
            server=(env.get("ACCIO_SERVER") or "").strip() or None,
            http=http if http and serve_http else DEFAULT_HTTP,
            serve_http=serve_http,
            http_workers=_count(env, "ACCIO_HTTP_WORKERS", 1),
            max_body_bytes=body_mb * 2**20,
            artifacts_url=(env.get("ACCIO_ARTIFACTS_URL") or "").strip() or None,
            s3_endpoint=(env.get("ACCIO_S3_ENDPOINT") or "").strip() or None,
            max_workers=_positive_int(env, "ACCIO_MAX_WORKERS", lambda: DEFAULT_MAX_WORKERS),
            job_cores=_positive_int(env, "ACCIO_JOB_CORES", lambda: 1),
            job_memory=_job_memory(env.get("ACCIO_JOB_MEMORY")),
            job_queue=(env.get("ACCIO_JOB_QUEUE") or "").strip() or None,
            job_walltime=(env.get("ACCIO_JOB_WALLTIME") or "").strip() or "01:00:00",
            job_host=(env.get("ACCIO_JOB_HOST") or "").strip() or None,
            job_idle_s=_positive_int(env, "ACCIO_JOB_IDLE_S", lambda: 30),
            job_dir=_job_dir(env.get("ACCIO_JOB_DIR")),
            job_log_dir=_job_dir(env.get("ACCIO_JOB_LOG_DIR"), "ACCIO_JOB_LOG_DIR"),
            job_prologue=(env.get("ACCIO_JOB_PROLOGUE") or "").strip() or None,
            auth=_switch(env, "ACCIO_AUTH"),
            token=(env.get("ACCIO_TOKEN") or "").strip() or None,
            credentials_file=_credentials_file(env),
            cluster=(env.get("ACCIO_CLUSTER") or "").strip() or None,
            clusters_file=_clusters_file(env),
            allowed_hosts=tuple(
                h.strip().lower()
                for h in env.get("ACCIO_ALLOWED_HOSTS", "").split(",")
                if h.strip()
            ),
        )


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    """A variable holding a count (0 or more)."""
    text = (env.get(name) or "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) > 1024:
        raise UsageError(f"{name} must be a whole number from 0 to 1024, got {text!r}")
    return int(text)


def _credentials_file(env: Mapping[str, str]) -> Path | None:
    """``$XDG_CONFIG_HOME/accio/credentials.json``, else ``~/.config/accio/credentials.json``."""
    if env.get("XDG_CONFIG_HOME"):
        return Path(env["XDG_CONFIG_HOME"]) / "accio" / "credentials.json"
    if env.get("HOME"):
        return Path(env["HOME"]) / ".config" / "accio" / "credentials.json"
    return None


def _clusters_file(env: Mapping[str, str]) -> Path | None:
    """``$ACCIO_CLUSTERS_FILE``, else ``clusters.toml`` in the user's config folder."""
    if (env.get("ACCIO_CLUSTERS_FILE") or "").strip():
        return Path(env["ACCIO_CLUSTERS_FILE"].strip()).expanduser().absolute()
    credentials = _credentials_file(env)
    return credentials.with_name("clusters.toml") if credentials is not None else None


def _switch(env: Mapping[str, str], name: str) -> bool:
    """An on/off variable (on, true, yes, 1 / off, false, no, 0, empty)."""
    text = (env.get(name) or "").strip().lower()
    if text in ("on", "true", "yes", "1"):
        return True
    if text in ("", "off", "false", "no", "0"):
        return False
    raise UsageError(f"${name}: expected on or off, got {text!r}")


def job_env(settings: Settings) -> dict[str, str]:
    """The batch-job settings as environment variables (for a scheduler started for them)."""
    env = {
        "ACCIO_MAX_WORKERS": str(settings.max_workers),
        "ACCIO_JOB_CORES": str(settings.job_cores),
        "ACCIO_JOB_MEMORY": settings.job_memory,
        "ACCIO_JOB_WALLTIME": settings.job_walltime,
        "ACCIO_JOB_IDLE_S": str(settings.job_idle_s),
    }
    if settings.job_queue:
        env["ACCIO_JOB_QUEUE"] = settings.job_queue
    if settings.job_host:
        env["ACCIO_JOB_HOST"] = settings.job_host
    if settings.job_dir:
        env["ACCIO_JOB_DIR"] = str(settings.job_dir)
    if settings.job_log_dir:
        env["ACCIO_JOB_LOG_DIR"] = str(settings.job_log_dir)
    if settings.job_prologue:
        env["ACCIO_JOB_PROLOGUE"] = settings.job_prologue
    return env


def _job_dir(text: str | None, name: str = "ACCIO_JOB_DIR") -> Path | None:
    """``$ACCIO_JOB_DIR`` (or ``name``): absolute (it names a directory on the compute nodes,
    not here)."""
    value = (text or "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise UsageError(f"{name} must be an absolute path, got {text!r}")
    return path


def memory_bytes(text: str) -> int:
    """``4GiB``, ``512MB``, ``2g``, ``1000000``: bytes (``KiB`` etc. are powers of 1024)."""
    match = _MEMORY_RE.match(text)
    if match is None:
        raise UsageError(f"bad memory size {text!r}: expected e.g. 512MiB, 4GiB or 2GB")
    unit = (match.group(3) or "").lower()
    scale = _MEMORY_UNITS[unit[:1]] if unit else 1
    if "i" in unit:
        scale = 1024 ** {"k": 1, "m": 2, "g": 3, "t": 4}[unit[0]]
    return int(float(match.group(1)) * scale)


def _job_memory(text: str | None) -> str:
    value = (text or "").strip() or "2GiB"
    try:
        if memory_bytes(value) < 2**20:
            raise UsageError("")
    except UsageError:
        raise UsageError(
            f"ACCIO_JOB_MEMORY must be a memory size of at least 1 MiB (e.g. 4GiB), got {text!r}"
        ) from None
    return value


#: Keys of a configuration file: each stands for the environment variable ``ACCIO_<KEY>``.
CONFIG_KEYS = (
    "home", "database_url", "user", "cpus", "memory_mb", "executor", "dask_scheduler",
    "max_children", "max_body_mb", "http", "plugins", "server", "artifacts_url", "s3_endpoint",
    "max_workers", "job_cores", "job_memory", "job_queue", "job_walltime", "job_host",
    "job_idle_s", "job_dir", "job_log_dir", "job_prologue", "auth", "allowed_hosts", "http_workers",
    "clusters_file",
)  # fmt: skip


def config_files(env: Mapping[str, str]) -> list[Path]:
    """Where configuration is read, weakest first: the user's file (``$ACCIO_CONFIG``, else
    ``$XDG_CONFIG_HOME/accio/config.toml``, else ``~/.config/accio/config.toml``), then the
    home's ``config.toml``. Only paths ``env`` names are used, so a given mapping is hermetic."""
    user_file: Path | None = None
    if env.get("ACCIO_CONFIG"):
        user_file = Path(env["ACCIO_CONFIG"]).expanduser()
    elif env.get("XDG_CONFIG_HOME"):
        user_file = Path(env["XDG_CONFIG_HOME"]) / "accio" / "config.toml"
    elif env.get("HOME"):
        user_file = Path(env["HOME"]) / ".config" / "accio" / "config.toml"
    return [user_file] if user_file is not None else []


def with_config_files(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` over the configuration files (TOML, keys of :data:`CONFIG_KEYS`): a variable
    set in the environment wins over the home's file, which wins over the user's file.

    ``plugins`` and ``allowed_hosts`` may be lists. An unreadable file, bad TOML, an unknown key
    or a value that is not a string, number, boolean or list is a UsageError naming the file.
    """
    merged: dict[str, str] = {}
    files = config_files(env)
    values = _read_config(files[0]) if files else {}
    merged.update(values)
    home_text = env.get("ACCIO_HOME") or merged.get("ACCIO_HOME") or "~/.accio"
    merged.update(_read_config(Path(home_text).expanduser() / "config.toml"))
    merged.update(env)
    return merged


def _read_config(path: Path) -> dict[str, str]:
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the configuration file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: invalid TOML: {exc}") from None
    out: dict[str, str] = {}
    for key, value in data.items():
        if key not in CONFIG_KEYS:
            import difflib

            close = difflib.get_close_matches(key, CONFIG_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(f"{path}: {key}: unknown configuration key{hint}")
        if isinstance(value, bool):
            text = "on" if value else "off"
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            text = ",".join(value)
        elif isinstance(value, str | int | float):
            text = str(value)
        else:
            raise UsageError(f"{path}: {key}: expected a string, number, boolean or list")
        out[f"ACCIO_{key.upper()}"] = text
    return out


def read_plugins(env: Mapping[str, str] | None = None) -> str:
    """``$ACCIO_PLUGINS`` alone, for a process that loads operators before any Settings exist
    (a worker, or a caller that did not pass its settings down)."""
    return ((os.environ if env is None else env).get("ACCIO_PLUGINS") or "").strip()


def parse_http_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6; port 0 picks a free one) as (host, port), or a
    UsageError naming what is wrong, before anything starts."""
    host, sep, port_text = text.strip().rpartition(":")
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(
            f"bad HTTP address {text!r}: expected HOST:PORT with a port from 0 to 65535"
            " (e.g. 127.0.0.1:8765)"
        )
    return host, int(port_text)


def _executor(text: str | None) -> ExecutorName:
    name = (text or "").strip() or "local"
    for known in get_args(ExecutorName):
        if name == known:
            return known  # type: ignore[no-any-return]
    raise UsageError(f"ACCIO_EXECUTOR must be one of {', '.join(EXECUTOR_NAMES)}, got {text!r}")


def _positive_int(env: Mapping[str, str], name: str, default: Callable[[], int]) -> int:
    text = env.get(name)
    if text is None or not text.strip():
        return default()
    try:
        value = int(text.strip())
    except ValueError:
        raise UsageError(f"{name} must be a positive integer, got {text!r}") from None
    if value <= 0:
        raise UsageError(f"{name} must be a positive integer, got {text!r}")
    return value
