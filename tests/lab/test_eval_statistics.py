"""The eval's standard errors: over prompts (not images), and paired against the first model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from studio.core.models import ModelRef
from studio.core.settings import LaneRecipe
from studio.lab.evaluate import (
    EvalItem,
    check_pairable,
    clustered_mean,
    evaluate,
    markdown_table,
    right_or_wrong,
    saved_report,
    with_noises,
)

RECIPE = LaneRecipe(sampler="DDIM trailing", num_inference_steps=1, guidance_scale=1.0)
ITEMS = with_noises([EvalItem("a", 0, 0), EvalItem("b", 1, 1)], 2, set_size=2)


class Images:
    """A batch runner whose image i is filled with the value i (the classifier reads it back)."""

    def run_all(self, jobs):
        return [np.full((4, 4, 3), i, dtype=np.uint8) for i in range(len(jobs))]


class Answers:
    """A classifier that answers `labels[i]` for image i."""

    def __init__(self, labels: list[int]) -> None:
        self.labels = labels

    def predict(self, images):
        labels = np.array([self.labels[int(image[0, 0, 0])] for image in images])
        return labels, np.random.default_rng(0).normal(size=(len(images), 3))


def judged(labels: list[int], first=None):
    features = np.random.default_rng(1).normal(size=(20, 3))
    ref = ModelRef.embedded("emoji-teacher")
    return evaluate(Images(), ref, RECIPE, ITEMS, Answers(labels), features, None, first)[0]


def test_the_standard_error_is_over_prompts_not_images():
    mean, se = clustered_mean(np.array([1.0, 0.0, 1.0, 1.0]), ["a", "b", "a", "b"])
    assert mean == 0.75
    assert se == pytest.approx(np.std([1.0, 0.5], ddof=1) / np.sqrt(2))
    assert clustered_mean(np.array([1.0, 0.0]), ["a", "a"]) == (0.5, None)


def test_a_report_has_its_accuracys_error_and_the_paired_gap_to_the_first():
    # Items: a (truth 0), b (truth 1), then the same two prompts from their second noise.
    first = judged([0, 0, 0, 0])  # right on a twice, wrong on b twice
    assert first.subgroup_accuracy == 0.5 and first.correct == (True, False, True, False)
    assert first.accuracy_se == pytest.approx(0.5) and first.gap_to_first is None
    second = judged([0, 1, 1, 1], first)  # right on a once, on b twice
    assert second.subgroup_accuracy == 0.75
    assert second.gap_to_first == pytest.approx(0.25)
    # Per prompt, the gap is a: (0 + -1) / 2 = -0.5 and b: (1 + 1) / 2 = 1.
    assert second.gap_se == pytest.approx(np.std([-0.5, 1.0], ddof=1) / np.sqrt(2))
    assert "correct" not in second.as_dict() and second.as_dict()["gap_se"] == second.gap_se
    assert right_or_wrong(second.correct) == "1101"
    table = markdown_table([first, second]).splitlines()
    assert "| 50.0 ± 50.0 | — |" in table[2]
    assert f"| 75.0 ± {100 * second.accuracy_se:.1f} | +25.0 ± 75.0 |" in table[3]


def test_no_gap_is_claimed_against_a_first_model_of_other_items():
    first = judged([0, 0, 0, 0])
    other = evaluate(
        Images(),
        ModelRef.embedded("emoji-teacher"),
        RECIPE,
        ITEMS[:2],
        Answers([0, 1]),
        np.random.default_rng(1).normal(size=(20, 3)),
        None,
        first,
    )[0]
    assert other.gap_to_first is None and other.gap_se is None


def test_a_saved_row_pairs_as_the_first_model_did(tmp_path):
    import json

    first = judged([0, 0, 0, 0])
    path = tmp_path / "eval.json"
    row = {**first.as_dict(), "correct": right_or_wrong(first.correct)}
    path.write_text(json.dumps([{"model": "other"}, row]))
    saved = saved_report(path, 1)
    assert saved.correct == first.correct and saved.images == 4
    assert saved.subgroup_accuracy == first.subgroup_accuracy
    assert "eval.json, row 1" in saved.recipe
    against_saved = judged([0, 1, 1, 1], saved)
    against_first = judged([0, 1, 1, 1], first)
    assert against_saved.gap_to_first == against_first.gap_to_first == pytest.approx(0.25)
    assert against_saved.gap_se == against_first.gap_se
    assert first.noises == saved.noises == 2
    check_pairable(saved, ITEMS)
    with pytest.raises(ValueError, match="4 images, 2 noises per prompt and this eval makes 2"):
        check_pairable(saved, ITEMS[:2])
    four_prompts = [EvalItem(p, 0, i) for i, p in enumerate("abcd")]
    with pytest.raises(ValueError, match="this eval makes 4, 1 noises per prompt"):
        check_pairable(saved, four_prompts)  # as many images, other noises
    check_pairable(
        replace(saved, noises=None), ITEMS
    )  # a file from before rows said their noises: size only


@pytest.mark.parametrize(
    ("content", "row", "message"),
    [
        (None, 0, "not a readable"),
        ("{not json", 0, "not a readable"),
        ("[]", 0, "has no row 0"),
        ('[{"model": "m"}]', 1, "has no row 1"),
        ('[{"model": "m", "correct": ""}]', 0, "no verdicts"),
        ('[{"model": "m", "correct": "10x"}]', 0, "no verdicts"),
        ('[{"model": "m", "correct": "10"}]', 0, "missing or not a number"),
        (
            '[{"model": "m", "recipe": "r", "correct": "10", "subgroup_accuracy": 0.6, '
            '"frechet_distance": 1, "seconds_per_image": 1}]',
            0,
            r"accuracy \(60.0%\) is not its verdicts' \(50.0%\)",
        ),
    ],
)
def test_a_saved_row_that_cannot_be_paired_is_refused(tmp_path, content, row, message):
    path = tmp_path / "eval.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=message):
        saved_report(path, row)
