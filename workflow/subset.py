"""Proving that some leaves of a Merkle tree are in place, with the hashes of the rest.

A set of leaf positions (given as runs of consecutive positions) is known; every subtree of the
RFC 9162 tree holding none of them is *missing*. The missing subtrees' hashes, taken in order
from left to right (the largest such subtrees, so about two per gap and ``log2(n)`` at each end),
together with the known leaves, give back the tree's root: so a slice of the log can be checked
against a checkpoint without the rest of the log. A leaf changed, added, dropped or moved gives
another root.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate

from workflow import merkle

Runs = Sequence[tuple[int, int]]  # sorted, disjoint [start, end) ranges of known positions


def runs_of(positions: Iterable[int]) -> list[tuple[int, int]]:
    """Increasing positions as runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for position in positions:
        extend(runs, position)
    return runs


def extend(runs: list[tuple[int, int]], position: int) -> None:
    """Add a position after every one in ``runs``."""
    if runs and runs[-1][1] == position:
        runs[-1] = (runs[-1][0], position + 1)
    else:
        runs.append((position, position + 1))


def packed(runs: Runs, leaves: bytes | bytearray) -> Callable[[int], bytes]:
    """The leaf at a known position, from the known leaves' hashes laid end to end in order."""
    starts = [start for start, _ in runs]
    offsets = list(accumulate((end - start for start, end in runs), initial=0))

    def leaf_at(position: int) -> bytes:
        at = bisect_right(starts, position) - 1
        n = offsets[at] + position - starts[at]
        return bytes(leaves[32 * n:32 * n + 32])

    return leaf_at


def _known(lo: int, hi: int, runs: Runs, starts: Sequence[int]) -> int:
    """How much of [lo, hi) is known: 0 none, 2 all, 1 some."""
    at = bisect_right(starts, lo) - 1  # the last run starting at or before lo
    if at >= 0 and runs[at][1] >= hi:
        return 2
    if at >= 0 and runs[at][1] > lo:
        return 1
    following = at + 1
    return 1 if following < len(runs) and runs[following][0] < hi else 0


def missing(size: int, runs: Runs) -> list[tuple[int, int]]:
    """The largest subtrees of a tree of ``size`` leaves holding no known leaf, left to right,
    as [start, end) ranges of leaf positions."""
    starts = [start for start, _ in runs]
    out: list[tuple[int, int]] = []

    def walk(lo: int, hi: int) -> None:
        known = _known(lo, hi, runs, starts)
        if known == 0:
            out.append((lo, hi))
        elif known == 1:
            k = merkle._split(hi - lo)
            walk(lo, lo + k)
            walk(lo + k, hi)

    if size:
        walk(0, size)
    return out


def range_roots(ranges: Sequence[tuple[int, int]],
                leaves_of: Callable[[int, int], Iterable[bytes]]) -> list[bytes]:
    """The root of each [lo, hi) range, from ``leaves_of(lo, hi)``: the leaves at those
    positions, in order (memory for one range's frontier)."""
    roots: list[bytes] = []
    for lo, hi in ranges:
        frontier = merkle.Frontier()
        for leaf in leaves_of(lo, hi):
            frontier.append(leaf)
        if frontier.size != hi - lo:
            raise ValueError(f"{frontier.size} leaves where positions {lo} to {hi - 1} need "
                             f"{hi - lo}")
        roots.append(frontier.root())
    return roots


def slicer(leaves: Iterable[bytes]) -> Callable[[int, int], Iterator[bytes]]:
    """``leaves_of`` for :func:`range_roots` from every leaf of the tree in order, read once:
    each call takes the leaves at [lo, hi), passing over those before lo. Calls must come in
    increasing order of position."""
    stream = iter(leaves)
    at = 0

    def leaves_of(lo: int, hi: int) -> Iterator[bytes]:
        nonlocal at
        for _ in range(at, lo):
            next(stream, None)
        at = max(at, lo)
        while at < hi:
            leaf = next(stream, None)
            if leaf is None:
                return
            at += 1
            yield leaf

    return leaves_of


def root(size: int, runs: Runs, leaf_at: Callable[[int], bytes], nodes: Sequence[bytes]
         ) -> bytes:
    """The root of a tree of ``size`` leaves from its known leaves and the hashes of its missing
    subtrees (as :func:`missing` orders them). ValueError when there are too few or too many."""
    if not size:
        if nodes:
            raise ValueError("an empty tree has no subtrees")
        return merkle.EMPTY_ROOT
    starts = [start for start, _ in runs]
    given = iter(nodes)

    def walk(lo: int, hi: int) -> bytes:
        known = _known(lo, hi, runs, starts)
        if known == 0:
            node = next(given, None)
            if node is None:
                raise ValueError("too few subtree hashes for the rows")
            return node
        if known == 2:
            frontier = merkle.Frontier()
            for position in range(lo, hi):
                frontier.append(leaf_at(position))
            return frontier.root()
        k = merkle._split(hi - lo)
        return merkle.node_hash(walk(lo, lo + k), walk(lo + k, hi))

    top = walk(0, size)
    if next(given, None) is not None:
        raise ValueError("more subtree hashes than the rows leave room for")
    return top
