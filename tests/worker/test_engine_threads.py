"""torch's intra-op threads: every core but one beside a window, torch's own choice headless."""

from __future__ import annotations

import pytest
import torch

from studio.worker.host import HEADLESS, default_runner_factory, threads_beside_a_window


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_a_window_engine_leaves_one_core_to_the_window(threads):
    torch.set_num_threads(7)
    default_runner_factory()
    assert torch.get_num_threads() == threads_beside_a_window()


def test_a_headless_engine_keeps_torchs_own_choice(threads):
    torch.set_num_threads(3)
    default_runner_factory(threads=HEADLESS)
    assert torch.get_num_threads() == 3


def test_an_explicit_count_is_used(threads):
    default_runner_factory(threads=2)
    assert torch.get_num_threads() == 2
