"""The data-parallel seam without Ray: shares of a global batch, and shard gradients whose mean
is the whole batch's gradient (what DDP averages)."""

from __future__ import annotations

import pytest
import torch

from studio.lab.batch import batch_rows
from studio.lab.consistency import ConsistencyConfig, consistency_loss
from studio.lab.data_parallel import ONE_PROCESS, DataParallel, shard_rows
from studio.lab.distill_common import GuidedModel, VpSchedule
from tests.lab.test_distill import TinyData, tiny_unet


def test_shares_are_equal_contiguous_and_cover_the_batch():
    assert [shard_rows(8, r, 4) for r in range(4)] == [
        slice(0, 2),
        slice(2, 4),
        slice(4, 6),
        slice(6, 8),
    ]
    assert shard_rows(5, 0, 1) == slice(0, 5)
    assert ONE_PROCESS.rows(32) == slice(0, 32) and ONE_PROCESS.writes


def test_a_batch_that_does_not_split_evenly_is_refused():
    with pytest.raises(ValueError, match="multiple of 3"):
        shard_rows(32, 0, 3)
    with pytest.raises(ValueError, match="does not exist"):
        shard_rows(4, 2, 2)


class Rank(DataParallel):
    def __init__(self, rank: int, count: int) -> None:
        self.rank, self.count = rank, count


def test_only_rank_zero_writes():
    assert [Rank(r, 2).writes for r in range(2)] == [True, False]


def gradient(rows: slice) -> list[torch.Tensor]:
    cfg = ConsistencyConfig(batch_size=4, bf16=False)
    data, sched = TinyData(), VpSchedule(torch.device("cpu"))
    teacher, student, target = tiny_unet(), tiny_unet(), tiny_unet()
    gen = torch.Generator().manual_seed(3)
    batch = data.sample(4, 0.0, gen, "cpu")
    guided = GuidedModel(teacher, data, 3.0, bf16=False)
    consistency_loss(student, target, guided, sched, batch, gen, cfg, rows).backward()
    return [p.grad.clone() for p in student.parameters() if p.grad is not None]


def test_the_mean_of_the_shards_gradients_is_the_global_batch_gradient():
    whole = gradient(slice(None))
    shards = [gradient(shard_rows(4, r, 2)) for r in range(2)]
    for want, first, second in zip(whole, *shards, strict=True):
        torch.testing.assert_close((first + second) / 2, want, atol=1e-6, rtol=1e-4)
    assert any(not torch.allclose(a, b) for a, b in zip(*shards, strict=True))


def test_batch_rows_slices_every_field():
    batch = TinyData().sample(4, 0.0, torch.Generator().manual_seed(0), "cpu")
    part = batch_rows(batch, slice(2, 4))
    assert (
        part.x0.shape[0] == part.states.shape[0] == part.mask.shape[0] == part.pooled.shape[0] == 2
    )
    assert torch.equal(part.pooled, batch.pooled[2:4])
