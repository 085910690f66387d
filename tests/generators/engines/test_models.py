import pytest

from generators.engines.models import resolve_model
from schemas.errors import ModelNotFoundError


def test_unknown_path_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"model '.*nope' not found: engine.model must be 'embedded'"):
        resolve_model(str(tmp_path / "nope"), allow_hub_download=False)


def test_folder_without_config_json(tmp_path):
    with pytest.raises(ModelNotFoundError, match="has no config.json"):
        resolve_model(str(tmp_path), allow_hub_download=False)


def test_hub_ids_need_opt_in():
    with pytest.raises(ModelNotFoundError, match="allow_hub_download"):
        resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct", allow_hub_download=False)
    assert resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct", allow_hub_download=True) == (
        "HuggingFaceTB/SmolLM2-135M-Instruct"
    )


def test_local_folder_resolves(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model(str(tmp_path), allow_hub_download=False) == tmp_path.resolve()
