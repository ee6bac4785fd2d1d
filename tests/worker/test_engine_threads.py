"""torch's intra-op threads: every free core but one beside a window, torch's own choice capped
at the free cores headless, and the user's OMP_NUM_THREADS kept."""

from __future__ import annotations

import os

import pytest
import torch

from studio.worker import threads as thread_choice
from studio.worker.host import HEADLESS, default_runner_factory
from studio.worker.threads import free_cores, headless_threads, threads_beside_a_window


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def machine(monkeypatch):
    """A machine of `cores` cores with a 1-minute load average of `load`."""

    def make(cores: int, load: float, omp: str = "") -> None:
        monkeypatch.setattr(thread_choice, "usable_cores", lambda: cores)
        monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
        monkeypatch.setenv("OMP_NUM_THREADS", omp)

    return make


def test_a_window_engine_leaves_one_core_to_the_window(threads, machine):
    machine(cores=8, load=0.2)
    torch.set_num_threads(7)
    default_runner_factory()
    assert torch.get_num_threads() == threads_beside_a_window() == 7


def test_a_headless_engine_keeps_torchs_own_choice_on_an_idle_machine(threads, machine):
    machine(cores=4, load=0.1)
    torch.set_num_threads(3)
    default_runner_factory(threads=HEADLESS)
    assert torch.get_num_threads() == 3


def test_a_headless_engine_takes_no_core_another_process_keeps_busy(threads, machine):
    machine(cores=2, load=1.1)
    torch.set_num_threads(2)
    default_runner_factory(threads=HEADLESS)
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize(
    ("cores", "load", "free", "beside_a_window"),
    [(2, 0.0, 2, 1), (2, 1.4, 1, 1), (2, 5.0, 1, 1), (8, 2.6, 5, 5), (8, 0.4, 8, 7), (1, 0, 1, 1)],
)
def test_free_cores_are_the_cores_less_the_load(machine, cores, load, free, beside_a_window):
    machine(cores=cores, load=load)
    assert free_cores() == free
    assert threads_beside_a_window() == beside_a_window


def test_the_users_omp_num_threads_is_kept_whatever_the_load(machine):
    machine(cores=2, load=2.0, omp="2")
    assert headless_threads(2) == 2
    machine(cores=2, load=2.0)
    assert headless_threads(2) == 1


def test_an_explicit_count_is_used(threads):
    default_runner_factory(threads=2)
    assert torch.get_num_threads() == 2
