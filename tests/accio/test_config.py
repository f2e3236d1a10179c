"""Settings are read from one mapping, validated once; bad values are usage errors (exit 1)."""

from __future__ import annotations

import pytest

from accio.config import DEFAULT_HTTP, DEFAULT_MAX_CHILDREN, Settings
from accio.errors import EXIT_USAGE, UsageError


def test_defaults() -> None:
    s = Settings.from_env({"ACCIO_HOME": "/tmp/accio-home", "ACCIO_USER": "ada"})
    assert (s.executor, s.dask_address, s.max_children) == ("local", None, DEFAULT_MAX_CHILDREN)
    assert (s.plugins, s.server, s.http) == ("", None, DEFAULT_HTTP)
    assert s.database_url == "sqlite:////tmp/accio-home/accio.db"


def test_every_variable_is_read() -> None:
    s = Settings.from_env(
        {
            "ACCIO_HOME": "/tmp/h",
            "ACCIO_USER": "ada",
            "ACCIO_EXECUTOR": "dask",
            "ACCIO_DASK_SCHEDULER": " tcp://10.0.0.1:8786 ",
            "ACCIO_MAX_CHILDREN": "12",
            "ACCIO_PLUGINS": "accio.testing:operators",
            "ACCIO_SERVER": "http://host:8642",
            "ACCIO_HTTP": "0.0.0.0:9000",
        }
    )
    assert s.executor == "dask"
    assert s.dask_address == "tcp://10.0.0.1:8786"
    assert s.max_children == 12
    assert s.plugins == "accio.testing:operators"
    assert s.server == "http://host:8642"
    assert s.http == "0.0.0.0:9000"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ACCIO_EXECUTOR", "threads"),
        ("ACCIO_MAX_CHILDREN", "0"),
        ("ACCIO_MAX_CHILDREN", "1e6"),
        ("ACCIO_CPUS", "-1"),
    ],
)
def test_bad_values_are_usage_errors(name: str, value: str) -> None:
    with pytest.raises(UsageError, match=name) as info:
        Settings.from_env({"ACCIO_HOME": "/tmp/h", "ACCIO_USER": "ada", name: value})
    assert info.value.exit_code == EXIT_USAGE
