"""OOM back-off of the VLM backend: a generate call that runs out of CUDA memory above a batch size."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch

from picscribe.indexer.captioners.vlm._batching import AdaptiveBatcher, parse_batch_size


class FlakyGenerate:
    """Stands in for model.generate: raises torch.OutOfMemoryError for batches above ``fits``."""

    def __init__(self, fits: int) -> None:
        self.fits = fits
        self.calls: list[int] = []

    def __call__(self, batch: Sequence[int]) -> list[str]:
        self.calls.append(len(batch))
        if len(batch) > self.fits:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [f"caption {i}" for i in batch]


def test_auto_halves_on_oom_and_keeps_order() -> None:
    freed = []
    batcher = AdaptiveBatcher("auto", auto_start=8, on_oom=lambda: freed.append(1))
    generate = FlakyGenerate(fits=3)
    items = list(range(11))
    assert batcher.run(items, generate) == [f"caption {i}" for i in items]
    # 8 fails, 4 fails, then batches of 2 for the rest.
    assert generate.calls == [8, 4, 2, 2, 2, 2, 2, 1]
    assert batcher.size == 2
    assert len(freed) == 2


def test_working_size_is_remembered_across_calls() -> None:
    batcher = AdaptiveBatcher("auto", auto_start=16, on_oom=lambda: None)
    batcher.run(list(range(5)), FlakyGenerate(fits=4))
    generate = FlakyGenerate(fits=4)
    assert batcher.run(list(range(9)), generate) == [f"caption {i}" for i in range(9)]
    assert generate.calls == [4, 4, 1]


def test_oom_at_batch_size_one_is_raised() -> None:
    batcher = AdaptiveBatcher("auto", auto_start=4, on_oom=lambda: None)
    with pytest.raises(torch.OutOfMemoryError):
        batcher.run([1, 2, 3], FlakyGenerate(fits=0))
    assert batcher.size == 1


def test_fixed_batch_size_does_not_back_off() -> None:
    batcher = AdaptiveBatcher(4, auto_start=8, on_oom=lambda: None)
    generate = FlakyGenerate(fits=2)
    with pytest.raises(torch.OutOfMemoryError):
        batcher.run(list(range(6)), generate)
    assert generate.calls == [4]
    assert batcher.size == 4


def test_other_errors_are_not_retried() -> None:
    batcher = AdaptiveBatcher("auto", auto_start=4, on_oom=lambda: None)

    def broken(batch: Sequence[int]) -> list[str]:
        raise RuntimeError("not an OOM")

    with pytest.raises(RuntimeError, match="not an OOM"):
        batcher.run([1, 2], broken)
    assert batcher.size == 4


def test_result_count_mismatch_is_an_error() -> None:
    batcher = AdaptiveBatcher(2, auto_start=2)
    with pytest.raises(RuntimeError, match="1 results for 2 items"):
        batcher.run([1, 2], lambda batch: ["only one"])


@pytest.mark.parametrize(("value", "parsed"), [("auto", "auto"), ("AUTO", "auto"), (3, 3), ("16", 16)])
def test_parse_batch_size(value: int | str, parsed: int | str) -> None:
    assert parse_batch_size(value) == parsed


@pytest.mark.parametrize("value", [0, -1, "big", "1.5", True])
def test_parse_batch_size_refuses(value: object) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        parse_batch_size(value)  # type: ignore[arg-type]  # wrong types on purpose: a config file can hold any


def test_captioner_halves_its_batch_through_a_wrapped_generate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The captioner's own batching path: the adapter's generate raises OOM above two images."""
    from PIL import Image

    from picscribe.indexer.captioners.vlm import _captioner, _families
    from picscribe.indexer.captioners.vlm._families import Generation

    sizes: list[int] = []

    def generate(self: object, loaded: object, images: Sequence[Image.Image], prompts: Sequence[str], n: int):
        sizes.append(len(images))
        if len(images) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return [Generation(f"a picture {img.width} pixels wide", False) for img in images]

    captioner = _captioner.TransformersCaptioner.__new__(_captioner.TransformersCaptioner)
    captioner.model_name = "stub"
    captioner.max_new_tokens = 8
    captioner._adapter = _families.Florence2Adapter({})
    captioner._batcher = AdaptiveBatcher("auto", auto_start=8, on_oom=lambda: None)
    captioner._loaded = object()  # type: ignore[assignment]  # a stand-in: the stubbed generate never reads it
    monkeypatch.setattr(_families.Florence2Adapter, "generate", generate)

    images = [Image.new("RGB", (10 + i, 10)) for i in range(7)]
    results = captioner.caption(images)
    assert [r.text for r in results] == [f"A picture {10 + i} pixels wide." for i in range(7)]
    assert sizes == [7, 4, 2, 2, 2, 1]
    assert captioner.batch_size == 2
