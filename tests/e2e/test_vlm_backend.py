"""The ``vlm`` backend end to end, per family, on tiny random-weight models.

Each model is built once per session (tests/tiny_vlms.py) and loaded through
the backend exactly as a user's model directory would be. Random weights
produce junk text, so the assertions are about structure: one result per
image, in order, every task the family supports, fp32 on CPU, one load.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw
from support.tiny_vlms import FAMILIES, tiny_vlm_dir

from picscribe.indexer.captioners.vlm import TransformersCaptioner, _loading
from picscribe.indexer.captioners.vlm._families import Adapter
from picscribe.indexer.captioning import KNOWN_TASKS, TASK_OCR, Captioner, CaptionResult

pytestmark = pytest.mark.models

# Kept tiny: junk text is junk at any length, and this keeps the suite quick.
TOKENS = 4

CHAT_TASKS = KNOWN_TASKS
EXPECTED = {
    # family: (caption tasks, can ask, adapter family)
    "qwen2_vl": (CHAT_TASKS, True, "qwen2_vl"),
    "qwen2_5_vl": (CHAT_TASKS, True, "qwen2_vl"),
    "llava": (CHAT_TASKS, True, "llava"),
    "llava_next": (CHAT_TASKS, True, "llava_next"),
    "internvl": (CHAT_TASKS, True, "internvl"),
    "smolvlm": (CHAT_TASKS, True, "smolvlm"),
    "florence2": (KNOWN_TASKS, False, "florence2"),
    "blip2": (frozenset({"caption", "alt_text"}), True, "blip2"),
    "blip": (frozenset({"caption", "alt_text"}), True, "blip"),
}
assert set(EXPECTED) == set(FAMILIES), "a tiny family without expectations here"


def _image(size: tuple[int, int], colour: str, mark: int) -> Image.Image:
    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).rectangle((mark, mark, size[0] // 2, size[1] // 2), fill="white")
    return image


# Three differently sized images: landscape, tall portrait, square.
IMAGES = [_image((64, 48), "red", 3), _image((30, 90), "blue", 7), _image((120, 120), "green", 20)]
QUESTIONS = ["What is this?", "How many dogs are in the picture?", "Is it raining?"]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from threads, and on a busy machine two threads
    spin-waiting on each other make every matmul ~50x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    return lambda family: tiny_vlm_dir(family, tmp_path_factory)


@pytest.fixture(scope="session")
def captioners(model_dir: Callable[[str], Path]) -> Callable[[str], TransformersCaptioner]:
    made: dict[str, TransformersCaptioner] = {}

    def get(family: str) -> TransformersCaptioner:
        if family not in made:
            made[family] = TransformersCaptioner(model=str(model_dir(family)), device="cpu", max_new_tokens=TOKENS)
        return made[family]

    return get


FAMILY_PARAMS = [pytest.param(f, id=f) for f in EXPECTED]


@pytest.mark.parametrize("family", FAMILY_PARAMS)
def test_capabilities_and_model_id(
    family: str, captioners: Callable[[str], TransformersCaptioner], model_dir: Callable[[str], Path]
) -> None:
    captioner = captioners(family)
    tasks, can_ask, adapter = EXPECTED[family]
    assert isinstance(captioner, Captioner)
    assert captioner.name == "vlm"
    assert captioner.family == adapter
    assert captioner.supported_tasks == tasks
    assert captioner.can_ask is can_ask
    assert captioner.model_id.startswith(f"local:{model_dir(family).name}@")


@pytest.mark.parametrize("family", FAMILY_PARAMS)
def test_every_supported_task(family: str, captioners) -> None:
    captioner = captioners(family)
    for task in sorted(captioner.supported_tasks):
        results = captioner.caption(IMAGES, task)
        assert len(results) == len(IMAGES), task
        for result in results:
            assert isinstance(result, CaptionResult)
            assert isinstance(result.text, str)
            assert result.ocr_text == (result.text if task == TASK_OCR else "")
    unsupported = KNOWN_TASKS - captioner.supported_tasks
    for task in unsupported:
        with pytest.raises(ValueError, match="does not support task"):
            captioner.caption(IMAGES, task)


@pytest.mark.parametrize("family", FAMILY_PARAMS)
def test_ask(family: str, captioners) -> None:
    captioner = captioners(family)
    if not captioner.can_ask:
        refusals = captioner.ask(IMAGES, QUESTIONS)
        assert [(a.answered, a.source) for a in refusals] == [(False, "none")] * len(QUESTIONS)
        assert all("cannot answer free-form questions" in a.text for a in refusals)
        return
    answers = captioner.ask(IMAGES, QUESTIONS)
    assert len(answers) == len(QUESTIONS)
    assert all(isinstance(a.text, str) and a.answered and a.source == "vlm" for a in answers)
    with pytest.raises(ValueError, match="one question per image"):
        captioner.ask(IMAGES, QUESTIONS[:1])


@pytest.mark.parametrize("family", FAMILY_PARAMS)
def test_batched_equals_one_at_a_time(family: str, captioners, model_dir) -> None:
    """Padding is right for the family: a batch of mixed sizes gives each image what it gets alone, in order."""
    batched = captioners(family)
    single = TransformersCaptioner(model=str(model_dir(family)), device="cpu", max_new_tokens=TOKENS, batch_size=1)
    assert [r.text for r in batched.caption(IMAGES)] == [r.text for r in single.caption(IMAGES)]


@pytest.mark.parametrize("family", FAMILY_PARAMS)
def test_fp32_on_cpu_and_loaded_once(family: str, captioners, model_dir) -> None:
    captioner = captioners(family)
    captioner.caption(IMAGES[:1])
    loads = _loading.load_count
    captioner.caption(IMAGES[1:])
    again = TransformersCaptioner(model=str(model_dir(family)), device="cpu", max_new_tokens=TOKENS)
    again.caption(IMAGES[:1])
    assert _loading.load_count == loads, "the second caption call or instance reloaded the model"
    assert again._model() is captioner._model()
    assert captioner.dtype == torch.float32
    assert next(captioner._model().model.parameters()).dtype == torch.float32


def test_loading_is_lazy(model_dir) -> None:
    loads = _loading.load_count
    fresh = model_dir("blip2")
    captioner = TransformersCaptioner(model=str(fresh), device="cpu", max_new_tokens=TOKENS)
    assert captioner._loaded is None
    assert _loading.load_count == loads


def test_empty_batch(captioners) -> None:
    captioner = captioners("florence2")
    assert captioner.caption([]) == []
    assert captioners("llava").ask([], []) == []


def test_fixed_batch_size_splits_the_work(captioners, model_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    captioner = TransformersCaptioner(model=str(model_dir("llava")), device="cpu", max_new_tokens=TOKENS, batch_size=2)
    sizes: list[int] = []
    real = Adapter.generate

    def spy(self, loaded, images, prompts, max_new_tokens):
        sizes.append(len(images))
        return real(self, loaded, images, prompts, max_new_tokens)

    monkeypatch.setattr(Adapter, "generate", spy)
    assert len(captioner.caption(IMAGES + IMAGES[:2])) == 5
    assert sizes == [2, 2, 1]


def test_max_new_tokens_defaults_per_task(model_dir) -> None:
    captioner = TransformersCaptioner(model=str(model_dir("florence2")), device="cpu")
    assert captioner._tokens("caption") < captioner._tokens("detailed")
    capped = TransformersCaptioner(model=str(model_dir("florence2")), device="cpu", max_new_tokens=7)
    assert capped._tokens("detailed") == 7
    with pytest.raises(ValueError, match="max_new_tokens"):
        TransformersCaptioner(model=str(model_dir("florence2")), device="cpu", max_new_tokens=0)
    with pytest.raises(ValueError, match="batch_size"):
        TransformersCaptioner(model=str(model_dir("florence2")), device="cpu", batch_size="lots")


def test_blip_vqa_checkpoint_answers_questions_only(model_dir, tmp_path: Path) -> None:
    """Salesforce/blip-vqa-* share model_type "blip" with the captioner; the head tells them apart."""
    import shutil

    from transformers import BlipConfig, BlipForQuestionAnswering

    vqa = tmp_path / "tiny-blip-vqa"
    shutil.copytree(model_dir("blip"), vqa)
    torch.manual_seed(0)
    BlipForQuestionAnswering(BlipConfig.from_pretrained(vqa)).save_pretrained(vqa)
    captioner = TransformersCaptioner(model=str(vqa), device="cpu", max_new_tokens=TOKENS)
    assert captioner.family == "blip-vqa"
    assert captioner.supported_tasks == frozenset()
    answers = captioner.ask(IMAGES, QUESTIONS)
    assert len(answers) == 3 and all(isinstance(a.text, str) and a.answered for a in answers)
    with pytest.raises(ValueError, match="does not support task"):
        captioner.caption(IMAGES)
