"""config.toml, the environment and keyword settings are checked against each
setting's type where they are read: a wrong value fails at once, naming the key
and where it came from, instead of deep in a backend (or not at all)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import Run
from support.paths import SAMPLES

from picscribe import Library
from picscribe.config import CONFIG_FILE, ConfigError, load_config


def _config(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / CONFIG_FILE
    path.write_text(text)
    return path


def test_a_wrong_type_names_the_key_and_the_file(home: Path) -> None:
    path = _config(home, 'batch_size = "three"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(home)
    assert str(caught.value) == f"{path}: batch_size must be an integer, not 'three'"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('workers = "two"', "workers must be an integer, not 'two'"),
        ("workers = true", "workers must be an integer, not True"),  # TOML keeps bool and int apart
        ("trust_remote_code = 1", "trust_remote_code must be true or false, not 1"),
        ('api_timeout = "60"', "api_timeout must be a number, not '60'"),
        ("captioner = 3", "captioner must be a string, not 3"),
        ('max_requests = "many"', "max_requests must be an integer, not 'many'"),
        ('watch_ignore = "*.tmp"', "watch_ignore must be a list of strings, not '*.tmp'"),
        ("watch_ignore = [1, 2]", "watch_ignore must be a list of strings, not [1, 2]"),
        ("batch_size = 0", "batch_size must be at least 1, not 0"),
        ("decode_memory_mb = 0", "decode_memory_mb must be at least 1, not 0"),
        ("vlm_batch_size = 0", 'vlm_batch_size must be a positive integer or "auto", not 0'),
        ('vlm_batch_size = "lots"', "vlm_batch_size must be a positive integer or \"auto\", not 'lots'"),
        ('roots = "/srv/photos"', "roots must be a list of folder paths, not '/srv/photos'"),
        ('watch_debounce = "abc"', "watch_debounce must be a number, not 'abc'"),
        ("watch_debounce = -1", "watch_debounce must be 0 or more seconds, not -1.0"),
        ("watch_reconcile_every = -5.0", "watch_reconcile_every must be 0 or more seconds, not -5.0"),
        ("api_timeout = 0", "api_timeout must be more than 0 seconds, not 0.0"),
        ("workers = 0", "workers must be at least 1, not 0"),
        ("api_concurrency = 0", "api_concurrency must be at least 1, not 0"),
        ("max_pixels = -1", "max_pixels must be at least 1, not -1"),
        ("max_requests = 0", "max_requests must be at least 1, not 0"),
        ('device = "gpu"', "device must be auto, cpu, cuda or cuda:N, not 'gpu'"),
        ("device = 1", "device must be auto, cpu, cuda or cuda:N, not 1"),
    ],
)
def test_each_kind_of_wrong_value_is_refused(home: Path, line: str, message: str) -> None:
    path = _config(home, line + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(home)
    assert str(caught.value) == f"{path}: {message}"


def test_right_values_arrive_as_the_declared_types(home: Path) -> None:
    _config(
        home,
        "watch_debounce = 2\n"  # a TOML integer where seconds may be fractional
        "vlm_batch_size = 4\n"  # bare, as --batch-size 4 would give it
        'watch_ignore = ["*.tmp", ".cache"]\n'
        "vlm_max_new_tokens = 64\n"
        "trust_remote_code = true\n",
    )
    cfg = load_config(home)
    assert cfg.watch_debounce == 2.0 and isinstance(cfg.watch_debounce, float)
    assert cfg.vlm_batch_size == "4"
    assert cfg.watch_ignore == ("*.tmp", ".cache")
    assert cfg.vlm_max_new_tokens == 64 and cfg.trust_remote_code is True


def test_every_unknown_setting_is_named(home: Path) -> None:
    path = _config(home, "batchsize = 3\ncaptoiner = 'fake'\n")
    with pytest.raises(ConfigError, match=r"unknown settings \['batchsize', 'captoiner'\]") as caught:
        load_config(home)
    assert str(caught.value).startswith(f"{path}: ")


def test_an_environment_value_names_its_variable(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICSCRIBE_VLM_BATCH_SIZE", "lots")
    with pytest.raises(ConfigError, match=r"^\$PICSCRIBE_VLM_BATCH_SIZE: vlm_batch_size must be"):
        load_config(home)


def test_keyword_settings_are_checked_too(home: Path) -> None:
    with pytest.raises(ConfigError, match="batch_size must be an integer, not '3'"):
        Library.open(home, batch_size="3")
    with Library.open(home, batch_size=3, watch_debounce=1) as lib:
        assert lib.config.batch_size == 3 and lib.config.watch_debounce == 1.0


def test_the_cli_reports_a_wrong_value_as_a_usage_error(run: Run, home: Path) -> None:
    path = _config(home, 'batch_size = "three"\n')
    result = run("status")
    assert result.exit_code == 2
    assert f"{path}: batch_size must be an integer, not 'three'" in result.stderr


def test_a_wrong_device_in_the_environment_names_its_variable(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICSCRIBE_DEVICE", "gpu")
    with pytest.raises(ConfigError, match=r"^\$PICSCRIBE_DEVICE: device must be auto, cpu, cuda or cuda:N, not 'gpu'$"):
        load_config(home)


def test_cuda_where_there_is_none_is_an_error_not_a_cpu_run(run: Run, home: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    image = sorted(SAMPLES.glob("*.jpg"))[0]
    result = run("caption", str(image), "--captioner", "fake", "--device", "cuda")
    assert result.exit_code == 2
    assert "device cuda: torch sees no CUDA device here" in result.stderr
    assert result.stdout == ""
