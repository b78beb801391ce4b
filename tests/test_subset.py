"""Known leaves plus the hashes of the subtrees holding none give back the root, and only it."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflow import merkle, subset


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(str(i).encode()) for i in range(n)]


@st.composite
def trees(draw: st.DrawFn) -> tuple[int, list[int]]:
    size = draw(st.integers(0, 70))
    known = draw(st.sets(st.integers(0, max(size - 1, 0)), max_size=size)) if size else set()
    return size, sorted(known)


def _nodes(size: int, runs: list[tuple[int, int]], leaves: list[bytes]) -> list[bytes]:
    return subset.range_roots(subset.missing(size, runs), lambda lo, hi: leaves[lo:hi])


@given(trees())
def test_known_leaves_and_missing_subtrees_give_the_root(tree):
    size, known = tree
    leaves = _leaves(size)
    runs = subset.runs_of(known)
    nodes = _nodes(size, runs, leaves)
    assert subset.root(size, runs, leaves.__getitem__, nodes) == merkle.root_of(leaves)
    covered = sorted(p for lo, hi in subset.missing(size, runs) for p in range(lo, hi))
    assert covered == sorted(set(range(size)) - set(known))  # each unknown leaf exactly once


@given(trees(), st.data())
def test_a_changed_leaf_or_node_gives_another_root(tree, data):
    size, known = tree
    leaves = _leaves(size)
    runs = subset.runs_of(known)
    nodes = _nodes(size, runs, leaves)
    if not size:
        return
    changed = list(leaves)
    nodes = list(nodes)
    if known and data.draw(st.booleans()):
        position = data.draw(st.sampled_from(known))
        changed[position] = hashlib.sha256(b"forged").digest()
    elif nodes:
        nodes[data.draw(st.integers(0, len(nodes) - 1))] = hashlib.sha256(b"forged").digest()
    else:
        return
    assert subset.root(size, runs, changed.__getitem__, nodes) != merkle.root_of(leaves)


def test_a_run_moved_by_one_gives_another_root():
    leaves = _leaves(20)
    nodes = _nodes(20, [(5, 9)], leaves)
    try:  # the same leaves claimed one place later: refused, or another root
        moved = subset.root(20, [(6, 10)], lambda p: leaves[p - 1], nodes)
    except ValueError:
        moved = None
    assert moved != merkle.root_of(leaves)


def test_too_few_or_too_many_subtree_hashes_are_refused():
    leaves = _leaves(10)
    runs = [(3, 4)]
    nodes = _nodes(10, runs, leaves)
    with pytest.raises(ValueError, match="too few"):
        subset.root(10, runs, leaves.__getitem__, nodes[:-1])
    with pytest.raises(ValueError, match="more subtree hashes"):
        subset.root(10, runs, leaves.__getitem__, [*nodes, nodes[0]])


def test_a_slice_at_the_end_of_a_big_log_needs_few_hashes():
    runs = [(999_000, 1_000_000)]
    assert len(subset.missing(1_000_000, runs)) <= 20
    middle = [(400_000, 500_000)]
    assert len(subset.missing(1_000_000, middle)) <= 40


def test_runs_of_increasing_positions():
    assert subset.runs_of([]) == []
    assert subset.runs_of([0, 1, 2, 5, 7, 8]) == [(0, 3), (5, 6), (7, 9)]


def test_range_roots_refuse_a_range_with_leaves_missing():
    leaves = _leaves(8)
    with pytest.raises(ValueError, match="positions 2 to 5"):
        subset.range_roots([(2, 6)], lambda lo, hi: leaves[lo:hi - 1])
