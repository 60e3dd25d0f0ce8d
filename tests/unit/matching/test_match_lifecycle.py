"""The life of a kept match (store/matches.py): what a block message and a revert do to it, and when
a record is a repeat rather than the block coming back."""

from __future__ import annotations

import pytest

from blockhook.store.matches import Position, generation, is_repeat, on_block, on_revert
from blockhook.store.models import MatchModel


@pytest.mark.parametrize(
    ("status", "confirmations", "becomes"),
    [
        ("pending", 2, None),  # a repeat: already waiting
        ("sent", 0, None),  # a repeat: already sent
        ("sent", 2, None),
        ("removed", 0, "sent"),  # back after it was taken back: sent again at once
        ("removed", 2, "pending"),  # ... or once its confirmations stand on it again
        ("dropped", 2, "pending"),  # reverted before it was sent: waits again
        ("dropped", 0, "sent"),  # the monitor needs no confirmations now
    ],
)
def test_a_block_message(status, confirmations, becomes):
    assert on_block(status, confirmations) == becomes


@pytest.mark.parametrize(
    ("status", "becomes"),
    [("pending", "dropped"), ("sent", "removed"), ("removed", None), ("dropped", None)],
)
def test_a_revert(status, becomes):
    assert on_revert(status) == becomes


def flips(statuses: list[str], confirmations: int) -> list[tuple[str, int]]:
    """Walk one match through block (b), revert (r) and release (x) steps as the matcher does: the
    status after each step and its generation."""
    status, gen, seen = None, 0, []
    for step in statuses:
        if step == "b":
            if status is None:
                status = "pending" if confirmations else "sent"
            elif (after := on_block(status, confirmations)) is not None:
                status, gen = after, gen + 1
        elif step == "r":
            status = on_revert(status) or status
        elif step == "x" and status == "pending":
            status = "sent"
        seen.append((status, gen))
    return seen


def test_a_chain_flipping_a_b_a_b_a_sends_removes_and_sends_again_each_time_in_its_own_generation():
    assert flips(list("brbrb"), 0) == [("sent", 0), ("removed", 0), ("sent", 1), ("removed", 1), ("sent", 2)]


def test_with_confirmations_a_block_back_waits_again_and_one_never_sent_is_never_taken_back():
    assert flips(list("brbxrbx"), 2) == [
        ("pending", 0), ("dropped", 0), ("pending", 1), ("sent", 1), ("removed", 1), ("pending", 2), ("sent", 2),
    ]  # fmt: skip


def test_repeats_change_nothing():
    assert flips(list("bbrr"), 0) == [("sent", 0), ("sent", 0), ("removed", 0), ("removed", 0)]


def match(partition: str | None, offset: int | None, gen: int | None = None) -> MatchModel:
    return MatchModel("1#0xabc", "mon#0", applied_partition=partition, applied_offset=offset, generation=gen)


def test_a_record_at_or_before_the_last_one_applied_on_its_partition_is_a_repeat():
    item = match("blocks-0", 17)
    assert is_repeat(item, Position("blocks-0", 17)) and is_repeat(item, Position("blocks-0", 3))
    assert not is_repeat(item, Position("blocks-0", 18))
    assert not is_repeat(item, Position("blocks-1", 3))  # another partition: offsets do not compare


def test_without_positions_only_the_status_tells():
    assert not is_repeat(match(None, None), Position("blocks-0", 0))
    assert not is_repeat(match("blocks-0", 17), None)


def test_a_match_kept_before_generations_is_generation_zero():
    assert generation(match(None, None)) == 0 and generation(match(None, None, 3)) == 3
