import pytest

from schemas.config import EngineConfig, GenerateConfig, load_config
from schemas.errors import ConfigError


def test_defaults_are_cpu_friendly():
    cfg = GenerateConfig()
    assert cfg.engine.model == "embedded"
    assert cfg.engine.vllm.kv_cache_memory_bytes == 1 << 30
    assert cfg.magpie.instruction.temperature == 1.0
    assert cfg.magpie.response.temperature == 0.0


def test_configs_are_frozen():
    with pytest.raises(Exception, match="frozen"):
        EngineConfig().model = "x"  # type: ignore[misc]


def test_misspelled_key_names_the_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("magpie:\n  temprature: 0.5\n")
    with pytest.raises(ConfigError) as err:
        load_config(GenerateConfig, path)
    assert "magpie.temprature: unknown key" in str(err.value)
    assert str(path) in str(err.value)


def test_bad_value_names_key_and_value(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("magpie:\n  n: -3\n")
    with pytest.raises(ConfigError, match=r"magpie.n: .*got -3"):
        load_config(GenerateConfig, path)


@pytest.mark.parametrize("text", ["[1, 2]", "engine: {backend: vllm", "\xff\xfe"])
def test_malformed_files_are_config_errors(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ConfigError):
        load_config(GenerateConfig, path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(GenerateConfig, tmp_path / "nope.yaml")


def test_overrides_apply_over_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("magpie:\n  n: 5\n  turns: 2\nengine:\n  vllm: {device: cpu}\n")
    cfg = load_config(GenerateConfig, path, {"magpie.n": 7})
    assert (cfg.magpie.n, cfg.magpie.turns, cfg.engine.vllm.device) == (7, 2, "cpu")
