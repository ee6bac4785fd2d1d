"""benchmarks/stress/fuzz_inputs reads its table from hypothesis' statistics, in the wording of
old and new hypothesis versions, counting only the generate phase."""

from __future__ import annotations

from benchmarks.stress.fuzz_inputs import table

NEW = """\
tests/core/test_fuzz_png.py::test_mutated_pngs_read_or_raise_metadata_error:

  - during explicit phase (0.01 seconds):
    - Typical runtimes: ~ 5 ms, of which < 1ms in data generation
    - 1 passing, 0 failing, and 0 invalid test cases

  - during generate phase (1.83 seconds):
    - Typical runtimes: ~ 7-82 ms, of which ~ 0-1 ms in data generation
    - 40 passing, 2 failing, and 3 invalid test cases

  - Stopped because settings.max_examples=40
"""
OLD = """\
tests/ui/test_fuzz_submission.py::test_typed_values_are_refused_or_queued_valid:

  - during generate phase (0.50 seconds):
    - Typical runtimes: ~ 1-409 ms, of which ~ 0-221 ms in data generation
    - 20 passing examples, 0 failing examples, 1 invalid examples
"""


def test_counts_in_both_wordings_from_the_generate_phase_only() -> None:
    assert table(NEW + "\n" + OLD) == [
        ("test_mutated_pngs_read_or_raise_metadata_error", 40, 2, 3),
        ("test_typed_values_are_refused_or_queued_valid", 20, 0, 1),
    ]
