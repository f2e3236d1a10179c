"""Configuration files: TOML in the user's config folder and in the home, read only by
Settings, under the environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from accio.config import Settings, with_config_files
from accio.errors import UsageError


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_home_file_over_user_file_under_the_environment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _write(
        tmp_path / "xdg" / "accio" / "config.toml",
        f'home = "{home}"\nexecutor = "dask"\ncpus = 3\nmax_children = 50\n',
    )
    _write(home / "config.toml", 'plugins = ["a.b:ops", "c.d:ops"]\ncpus = 5\nhttp = false\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "ACCIO_MAX_CHILDREN": "7"}
    settings = Settings.from_env(env)
    assert settings.home == home  # the user's file names the home
    assert settings.executor == "dask"  # user file
    assert settings.cpus == 5  # the home's file wins over the user's
    assert settings.plugins == "a.b:ops,c.d:ops"  # lists join
    assert settings.serve_http is False  # booleans read as on/off
    assert settings.max_children == 7  # the environment wins over both


def test_a_given_mapping_without_paths_reads_no_user_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert with_config_files({"ACCIO_HOME": str(home)}) == {"ACCIO_HOME": str(home)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("executr = 'dask'\n", "executr: unknown configuration key (did you mean 'executor'?)"),
        ("cpus = [1, 2]\n", "cpus: expected a string, number, boolean or list"),
        ("cpus = \n", "invalid TOML"),
        ("[server]\nurl = 'x'\n", "server: expected a string, number, boolean or list"),
    ],
)
def test_bad_files_are_usage_errors_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    config = _write(tmp_path / "user.toml", text)
    with pytest.raises(UsageError) as caught:
        Settings.from_env({"ACCIO_CONFIG": str(config), "ACCIO_HOME": str(tmp_path / "h")})
    assert str(config) in str(caught.value) and message in str(caught.value)


def test_the_cli_takes_plugins_from_the_home_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _write(home / "config.toml", 'plugins = ["accio.testing:operators"]\nhttp = "off"\n')
    env = {"ACCIO_HOME": str(home), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "accio.cli.main", "describe", "operator", "AllTypes"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "AllTypes" in done.stdout


def test_a_bad_config_file_is_a_clean_cli_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _write(home / "config.toml", "nonsense = 1\n")
    env = {"ACCIO_HOME": str(home), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "accio.cli.main", "get", "runs"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "config.toml: nonsense: unknown configuration key" in done.stderr
    assert "Traceback" not in done.stderr
