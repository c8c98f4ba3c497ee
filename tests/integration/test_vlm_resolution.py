"""How the ``vlm`` backend finds its weights, and how ``auto`` falls back when it cannot.

No model hub is reachable here (HF_HUB_OFFLINE=1 from conftest), which is
exactly the situation these rules are for.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from support.tiny_vlms import tiny_vlm_dir

from picscribe.indexer import registry
from picscribe.indexer.captioners.vlm import DEFAULT_CPU_MODEL, TransformersCaptioner, UnsupportedModel, _loading
from picscribe.indexer.captioners.vlm._families import InternVLChatRemoteAdapter, Loaded, adapter_for
from picscribe.indexer.captioning import CaptionerOptions, CaptionerUnavailable

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def florence_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_vlm_dir("florence2", tmp_path_factory)


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache, in place of the user's."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def _cache_repo(cache: Path, repo_id: str, source: Path, files: list[str] | None = None) -> Path:
    """Lay ``source``'s files out as `huggingface-cli download repo_id` would."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    for path in source.iterdir():
        if files is None or path.name in files:
            shutil.copy2(path, snapshot / path.name)
    return snapshot


def test_missing_hub_model_offline_names_it_and_how_to_get_it(hub_cache: Path) -> None:
    with pytest.raises(CaptionerUnavailable) as info:
        TransformersCaptioner(model="picscribe-test/no-such-vlm", device="cpu")
    message = str(info.value)
    assert "picscribe-test/no-such-vlm" in message
    assert "huggingface-cli download picscribe-test/no-such-vlm" in message
    assert "HF_HUB_OFFLINE" in message


def test_default_cpu_model_is_the_native_florence_port(hub_cache: Path) -> None:
    with pytest.raises(CaptionerUnavailable, match=DEFAULT_CPU_MODEL):
        TransformersCaptioner(device="cpu")
    assert DEFAULT_CPU_MODEL == "florence-community/Florence-2-base"


def test_unreachable_hub_fails_fast_without_offline_flag(hub_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No network and no HF_HUB_OFFLINE: refuse at once instead of retrying for half a minute."""
    import socket

    from huggingface_hub import constants

    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    def no_network(*args: object, **kwargs: object) -> None:
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(CaptionerUnavailable, match=r"picscribe-test/no-such-vlm.*cannot be reached"):
        TransformersCaptioner(model="picscribe-test/no-such-vlm", device="cpu")


def test_cached_hub_model_is_used_offline(hub_cache: Path, florence_dir: Path) -> None:
    snapshot = _cache_repo(hub_cache, "picscribe-test/tiny-florence", florence_dir)
    captioner = TransformersCaptioner(model="picscribe-test/tiny-florence", device="cpu", max_new_tokens=3)
    assert captioner.model_id == f"hf:picscribe-test/tiny-florence@{COMMIT[:12]}"
    assert captioner._resolved.path == snapshot
    results = captioner.caption([Image.new("RGB", (40, 30), "red")])
    assert len(results) == 1 and isinstance(results[0].text, str)


def test_pinned_revision(hub_cache: Path, florence_dir: Path) -> None:
    _cache_repo(hub_cache, "picscribe-test/tiny-florence", florence_dir)
    captioner = TransformersCaptioner(model=f"picscribe-test/tiny-florence@{COMMIT}", device="cpu")
    assert captioner.model_id.endswith(f"@{COMMIT[:12]}")
    with pytest.raises(CaptionerUnavailable, match="tiny-florence"):
        TransformersCaptioner(model="picscribe-test/tiny-florence@" + "f" * 40, device="cpu")


def test_partly_downloaded_hub_model_offline(hub_cache: Path, florence_dir: Path) -> None:
    _cache_repo(hub_cache, "picscribe-test/half-florence", florence_dir, files=["config.json"])
    with pytest.raises(CaptionerUnavailable, match=r"half-florence.*partly downloaded.*weights"):
        TransformersCaptioner(model="picscribe-test/half-florence", device="cpu")


def test_local_dir_model_id_tracks_the_weights(tmp_path: Path, florence_dir: Path) -> None:
    copy = tmp_path / "my-florence"
    shutil.copytree(florence_dir, copy)
    first = TransformersCaptioner(model=str(copy), device="cpu").model_id
    assert first.startswith("local:my-florence@")
    assert TransformersCaptioner(model=str(copy), device="cpu").model_id == first
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # a fine-tune of the same shapes
    weights.write_bytes(bytes(data))
    assert TransformersCaptioner(model=str(copy), device="cpu").model_id != first


def test_missing_or_incomplete_local_dir(tmp_path: Path, florence_dir: Path) -> None:
    with pytest.raises(CaptionerUnavailable, match="does not exist"):
        TransformersCaptioner(model=str(tmp_path / "nowhere"), device="cpu")
    half = tmp_path / "half"
    half.mkdir()
    shutil.copy2(florence_dir / "config.json", half / "config.json")
    with pytest.raises(CaptionerUnavailable, match=r"incomplete: missing weights"):
        TransformersCaptioner(model=str(half), device="cpu")


def test_sharded_weights_must_all_be_there(tmp_path: Path, florence_dir: Path) -> None:
    sharded = tmp_path / "sharded"
    shutil.copytree(florence_dir, sharded)
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    (sharded / "model-00001-of-00002.safetensors").write_bytes(b"")
    assert _loading.missing_files(sharded) == ["model-00002-of-00002.safetensors"]


def _with_config(tmp_path: Path, florence_dir: Path, **changes: object) -> Path:
    model = tmp_path / "model"
    shutil.copytree(florence_dir, model)
    config = json.loads((model / "config.json").read_text())
    config.update(changes)
    (model / "config.json").write_text(json.dumps(config))
    return model


def test_family_comes_from_model_type_not_the_name(tmp_path: Path, florence_dir: Path) -> None:
    renamed = tmp_path / "Qwen2-VL-2B-Instruct"
    shutil.copytree(florence_dir, renamed)
    assert TransformersCaptioner(model=str(renamed), device="cpu").family == "florence2"


def test_unknown_model_type_is_a_usage_error(tmp_path: Path, florence_dir: Path) -> None:
    model = _with_config(tmp_path, florence_dir, model_type="bert")
    with pytest.raises(UnsupportedModel, match=r"'bert' is not supported"):
        TransformersCaptioner(model=str(model), device="cpu")
    assert issubclass(UnsupportedModel, ValueError)  # the registry turns it into BadCaptionerSpec


def test_original_florence_needs_opt_in(tmp_path: Path, florence_dir: Path) -> None:
    model = _with_config(
        tmp_path,
        florence_dir,
        auto_map={"AutoModelForCausalLM": "modeling_florence2.Florence2ForConditionalGeneration"},
        vision_config={"model_type": "davit"},
    )
    with pytest.raises(UnsupportedModel, match=r"trust_remote_code=True.*florence-community/Florence-2-base"):
        TransformersCaptioner(model=str(model), device="cpu")
    captioner = TransformersCaptioner(model=str(model), device="cpu", trust_remote_code=True)
    assert captioner.family == "florence2-remote"
    assert captioner._loaded is None  # nothing of the repo's code has run


def test_internvl_chat_needs_opt_in() -> None:
    config = {"model_type": "internvl_chat", "auto_map": {"AutoModel": "modeling_internvl_chat.InternVLChatModel"}}
    with pytest.raises(UnsupportedModel, match=r"trust_remote_code=True.*InternVL3-1B-hf"):
        adapter_for(config)
    assert isinstance(adapter_for(config, trust_remote_code=True), InternVLChatRemoteAdapter)


def test_internvl_chat_remote_adapter_plumbing() -> None:
    """The remote-code path without remote code: a stub with InternVL2's batch_chat signature."""

    class StubTokenizer:
        def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
            return {"input_ids": list(range(len(text.split())))}

    class StubModel:
        def batch_chat(self, tokenizer, pixel_values, questions, generation_config, num_patches_list):
            self.seen = (tuple(pixel_values.shape), list(num_patches_list), list(questions), generation_config)
            return [f"answer {i} is long enough" for i in range(len(questions))]

    adapter = InternVLChatRemoteAdapter({"model_type": "internvl_chat"})
    model = StubModel()
    loaded = Loaded(model=model, processor=StubTokenizer(), device="cpu", dtype=torch.float32)
    images = [Image.new("RGB", (900, 450)), Image.new("RGB", (300, 300))]
    prompts = [adapter.prompt(loaded, "caption"), adapter.prompt(loaded, "caption")]
    out = adapter.generate(loaded, images, prompts, max_new_tokens=4)
    shape, patches, questions, config = model.seen
    assert patches == [3, 1]  # 2x1 tiles + thumbnail for the wide image, one tile for the square
    assert shape == (4, 3, 448, 448)
    assert config == {"max_new_tokens": 4, "do_sample": False}
    assert [g.truncated for g in out] == [True, True]


def test_device_rules() -> None:
    assert _loading.resolve_device("cpu") == "cpu"
    assert _loading.pick_dtype("cpu") == torch.float32
    with pytest.raises(ValueError, match="device must be one of"):
        _loading.resolve_device("tpu")
    if not torch.cuda.is_available():
        assert _loading.resolve_device("auto") == "cpu"
        with pytest.raises(CaptionerUnavailable, match="no CUDA GPU"):
            _loading.resolve_device("cuda")


def test_vlm_is_registered_like_a_plugin() -> None:
    assert registry.available_backends()["vlm"].value == "picscribe.indexer.captioners.vlm:TransformersCaptioner"


def test_registry_auto_falls_back_to_offline(hub_cache: Path) -> None:
    choice = registry.choose("auto", vlm="vlm:picscribe-test/no-such-vlm", device="cpu")
    assert choice.captioner.name == "offline"
    assert "picscribe-test/no-such-vlm" in choice.reason


def test_registry_creates_the_vlm_from_a_spec(florence_dir: Path) -> None:
    options = CaptionerOptions(batch_size="2", max_new_tokens=3, concurrency=4, timeout=9.0)
    captioner = registry.create(f"vlm:{florence_dir}", device="cpu", options=options)
    assert isinstance(captioner, TransformersCaptioner)
    assert captioner.family == "florence2"
    assert captioner.batch_size == 2  # the VLM reads its options; the API-only ones mean nothing to it
