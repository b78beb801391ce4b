"""workflow.merkle against a deliberately naive RFC 9162 reference and the published CT vectors.

The reference below recomputes everything from the definitions in RFC 9162 section 2.1, straight
from the leaf *data* (never from workflow.merkle's leaf hashes or helpers): MTH by recursion over
the whole list, PATH and PROOF by recursion, and verifiers that rebuild the roots by walking the
same recursion. A symbolic run of those verifiers (node = tuple instead of hash) gives the shape
of the computation a proof implies, which tells when a changed parameter can still verify.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from workflow import merkle

# -- the naive reference (RFC 9162 2.1) -----------------------------------------------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ref_leaf(data: bytes) -> bytes:
    return sha256(b"\x00" + data)


def ref_node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(data: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from the leaf inputs, exactly as the RFC defines it."""
    n = len(data)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return ref_leaf(data[0])
    k = largest_power_of_two_below(n)
    return ref_node(mth(data[:k]), mth(data[k:]))


def path(m: int, data: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n])."""
    n = len(data)
    if n == 1:
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return [*path(m, data[:k]), mth(data[k:])]
    return [*path(m - k, data[k:]), mth(data[:k])]


def subproof(m: int, data: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(data)
    if m == n:
        return [] if b else [mth(data)]
    k = largest_power_of_two_below(n)
    if m <= k:
        return [*subproof(m, data[:k], b), mth(data[k:])]
    return [*subproof(m - k, data[k:], False), mth(data[:k])]


def proof(m: int, data: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n])."""
    return subproof(m, data, True)


Node = Callable[[Any, Any], Any]


def root_from_path(m: int, n: int, leaf: Any, audit_path: Sequence[Any],
                   node: Node = ref_node) -> Any:
    """Walk PATH's recursion backwards: the root a path implies, or None if it has the wrong
    length for (m, n)."""
    if not 0 <= m < n:
        return None
    if n == 1:
        return leaf if not audit_path else None
    if not audit_path:
        return None
    k = largest_power_of_two_below(n)
    *rest, sibling = audit_path
    if m < k:
        below = root_from_path(m, k, leaf, rest, node)
        return None if below is None else node(below, sibling)
    below = root_from_path(m - k, n - k, leaf, rest, node)
    return None if below is None else node(sibling, below)


def naive_verify_inclusion(m: int, n: int, leaf: bytes, audit_path: Sequence[bytes],
                           root: bytes) -> bool:
    return root_from_path(m, n, leaf, audit_path) == root


def roots_from_proof(m: int, n: int, first_root: Any, consistency: Sequence[Any],
                     node: Node = ref_node) -> tuple[Any, Any] | None:
    """Walk SUBPROOF's recursion backwards: the (old, new) roots a proof implies."""

    def walk(m: int, n: int, items: Sequence[Any], b: bool) -> tuple[Any, Any] | None:
        if m == n:
            if b:
                return (first_root, first_root) if not items else None
            return (items[0], items[0]) if len(items) == 1 else None
        if not items:
            return None
        k = largest_power_of_two_below(n)
        *rest, last = items
        if m <= k:
            below = walk(m, k, rest, b)
            return None if below is None else (below[0], node(below[1], last))
        below = walk(m - k, n - k, rest, False)
        return None if below is None else (node(last, below[0]), node(last, below[1]))

    if not 0 < m <= n:
        return None
    return walk(m, n, consistency, True)


def naive_verify_consistency(m: int, n: int, first_root: bytes, second_root: bytes,
                             consistency: Sequence[bytes]) -> bool:
    return roots_from_proof(m, n, first_root, consistency) == (first_root, second_root)


def sym_node(left: Any, right: Any) -> Any:
    return ("node", left, right)


def inclusion_shape(m: int, n: int, length: int) -> Any:
    """The hash computation a proof of ``length`` elements implies for leaf m of a tree of n."""
    return root_from_path(m, n, "leaf", [("p", i) for i in range(length)], sym_node)


def consistency_shape(m: int, n: int, length: int) -> Any:
    return roots_from_proof(m, n, "first", [("p", i) for i in range(length)], sym_node)


# -- helpers --------------------------------------------------------------------------------------


def flip(value: bytes, position: int) -> bytes:
    position %= len(value)
    return value[:position] + bytes([value[position] ^ 0x01]) + value[position + 1:]


def datum(i: int) -> bytes:
    return f"row {i}".encode() * (i % 3 + 1)


DATA = [datum(i) for i in range(70)]
LEAVES = [ref_leaf(d) for d in DATA]
SIZES = range(0, 71)

unique_data = st.lists(st.binary(max_size=24), min_size=1, max_size=90, unique=True)
hashes = st.binary(min_size=32, max_size=32)


# -- the published Certificate Transparency vectors (RFC 6962 hashing = RFC 9162 2.1) -------------

CT_INPUTS = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = [  # (index, size, path)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CT_CONSISTENCY = [  # (first, second, proof)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]


def test_naive_reference_reproduces_the_published_ct_vectors():
    # Guards the reference itself: a wrong reference would make every comparison below moot.
    assert [mth(CT_INPUTS[:n]).hex() for n in range(9)] == CT_ROOTS
    for index, size, expected in CT_INCLUSION:
        assert [p.hex() for p in path(index, CT_INPUTS[:size])] == expected
    for first, second, expected in CT_CONSISTENCY:
        assert [p.hex() for p in proof(first, CT_INPUTS[:second])] == expected


def test_hashes_use_the_rfc_domain_separation_prefixes():
    assert sha256(b"") == merkle.EMPTY_ROOT
    assert merkle.leaf_hash(b"abc") == sha256(b"\x00abc")
    left, right = sha256(b"l"), sha256(b"r")
    assert merkle.node_hash(left, right) == sha256(b"\x01" + left + right)
    # a leaf can never pass for an interior node with the same bytes
    assert merkle.leaf_hash(left + right) != merkle.node_hash(left, right)


def test_module_matches_the_published_ct_roots_and_proofs():
    leaves = [merkle.leaf_hash(d) for d in CT_INPUTS]
    frontier = merkle.Frontier()
    assert frontier.root().hex() == CT_ROOTS[0]
    for n in range(1, 9):
        frontier.append(leaves[n - 1])
        assert frontier.root().hex() == CT_ROOTS[n]
        assert merkle.root_of(leaves[:n]).hex() == CT_ROOTS[n]
    for index, size, expected in CT_INCLUSION:
        got = merkle.inclusion_proof(index, leaves[:size])
        assert [p.hex() for p in got] == expected
        assert merkle.verify_inclusion(index, size, leaves[index], got,
                                       bytes.fromhex(CT_ROOTS[size]))
    for first, second, expected in CT_CONSISTENCY:
        got = merkle.consistency_proof(first, leaves[:second])
        assert [p.hex() for p in got] == expected
        assert merkle.verify_consistency(first, second, bytes.fromhex(CT_ROOTS[first]),
                                         bytes.fromhex(CT_ROOTS[second]), got)


# -- exhaustive comparison with the reference, sizes 0..70 ----------------------------------------


@pytest.mark.parametrize("n", SIZES)
def test_root_of_and_frontier_equal_the_naive_mth(n):
    expected = mth(DATA[:n])
    assert merkle.root_of(LEAVES[:n]) == expected
    frontier = merkle.Frontier()
    for leaf in LEAVES[:n]:
        frontier.append(leaf)
    assert frontier.size == n
    assert len(frontier.nodes) == bin(n).count("1")
    assert frontier.root() == expected
    # a frontier rebuilt from its stored state (as the log head keeps it) has the same root
    assert merkle.Frontier(frontier.size, list(frontier.nodes)).root() == expected


@pytest.mark.parametrize("n", range(1, 71))
def test_inclusion_proofs_equal_the_naive_path_and_verify(n):
    root = mth(DATA[:n])
    for m in range(n):
        got = merkle.inclusion_proof(m, LEAVES[:n])
        assert got == path(m, DATA[:n]), (m, n)
        assert merkle.verify_inclusion(m, n, LEAVES[m], got, root), (m, n)
        assert naive_verify_inclusion(m, n, LEAVES[m], got, root)
        # the leaf of the neighbour is not the leaf at m
        other = LEAVES[(m + 1) % n] if n > 1 else ref_leaf(b"other")
        assert not merkle.verify_inclusion(m, n, other, got, root), (m, n)


@pytest.mark.parametrize("n", range(1, 71))
def test_consistency_proofs_equal_the_naive_proof_and_verify(n):
    second = mth(DATA[:n])
    for m in range(1, n + 1):
        first = mth(DATA[:m])
        got = merkle.consistency_proof(m, LEAVES[:n])
        assert got == proof(m, DATA[:n]), (m, n)
        assert merkle.verify_consistency(m, n, first, second, got), (m, n)
        assert naive_verify_consistency(m, n, first, second, got), (m, n)
        if m < n:
            # the old root of a different prefix is not consistent
            other = mth(DATA[1:m + 1])
            assert not merkle.verify_consistency(m, n, other, second, got), (m, n)


def test_proof_functions_reject_out_of_range_arguments():
    with pytest.raises(ValueError):
        merkle.inclusion_proof(0, [])
    with pytest.raises(ValueError):
        merkle.inclusion_proof(3, LEAVES[:3])
    with pytest.raises(ValueError):
        merkle.inclusion_proof(-1, LEAVES[:3])
    with pytest.raises(ValueError):
        merkle.consistency_proof(0, LEAVES[:3])
    with pytest.raises(ValueError):
        merkle.consistency_proof(4, LEAVES[:3])


def test_frontier_refuses_a_node_count_that_does_not_fit_its_size():
    with pytest.raises(ValueError):
        merkle.Frontier(3, [LEAVES[0]])
    with pytest.raises(ValueError):
        merkle.Frontier(0, [LEAVES[0]])


def test_verifiers_reject_impossible_parameters():
    root = mth(DATA[:5])
    assert not merkle.verify_inclusion(5, 5, LEAVES[0], path(0, DATA[:5]), root)
    assert not merkle.verify_inclusion(-1, 5, LEAVES[0], path(0, DATA[:5]), root)
    assert not merkle.verify_inclusion(0, 0, LEAVES[0], [], merkle.EMPTY_ROOT)
    assert not merkle.verify_consistency(6, 5, root, root, [])
    assert not merkle.verify_consistency(-1, 5, root, root, [])
    # equal sizes: only an empty proof between equal roots
    assert merkle.verify_consistency(5, 5, root, root, [])
    assert not merkle.verify_consistency(5, 5, root, flip(root, 0), [])
    assert not merkle.verify_consistency(5, 5, root, root, [LEAVES[0]])
    # a non-empty tree needs a non-empty proof to extend a smaller one
    assert not merkle.verify_consistency(3, 5, mth(DATA[:3]), root, [])
    # the empty tree is a prefix of every tree, with nothing to prove
    assert merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, root, [])
    assert not merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, root, [LEAVES[0]])


# -- properties (Hypothesis) ----------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=140))
def test_frontier_root_equals_naive_root_after_every_append(data):
    frontier = merkle.Frontier()
    assert frontier.root() == mth([])
    for i, d in enumerate(data):
        frontier.append(merkle.leaf_hash(d))
        if i in (0, len(data) - 1) or i % 17 == 0:
            assert frontier.root() == mth(data[: i + 1])
    assert frontier.root() == merkle.root_of([merkle.leaf_hash(d) for d in data]) == mth(data)


@st.composite
def tree_and_index(draw: Any) -> tuple[list[bytes], int]:
    data = draw(unique_data)
    return data, draw(st.integers(0, len(data) - 1))


@st.composite
def tree_and_prefix(draw: Any) -> tuple[list[bytes], int]:
    data = draw(unique_data)
    return data, draw(st.integers(1, len(data)))


@settings(max_examples=150, deadline=None)
@given(tree_and_index())
def test_inclusion_proof_verifies_and_matches_the_naive_path(case):
    data, m = case
    leaves = [merkle.leaf_hash(d) for d in data]
    got = merkle.inclusion_proof(m, leaves)
    assert got == path(m, data)
    assert merkle.verify_inclusion(m, len(data), ref_leaf(data[m]), got, mth(data))


@settings(max_examples=150, deadline=None)
@given(tree_and_prefix())
def test_consistency_proof_verifies_and_matches_the_naive_proof(case):
    data, m = case
    leaves = [merkle.leaf_hash(d) for d in data]
    got = merkle.consistency_proof(m, leaves)
    assert got == proof(m, data)
    assert merkle.verify_consistency(m, len(data), mth(data[:m]), mth(data), got)


@settings(max_examples=200, deadline=None)
@given(tree_and_index(), st.data())
def test_inclusion_rejects_any_changed_byte(case, draw):
    data, m = case
    n, leaf, root = len(data), ref_leaf(data[m]), mth(data)
    audit_path = path(m, data)
    position = draw.draw(st.integers(0, 31), label="byte")
    assert not merkle.verify_inclusion(m, n, flip(leaf, position), audit_path, root)
    assert not merkle.verify_inclusion(m, n, leaf, audit_path, flip(root, position))
    if audit_path:
        which = draw.draw(st.integers(0, len(audit_path) - 1), label="element")
        forged = list(audit_path)
        forged[which] = flip(forged[which], position)
        assert not merkle.verify_inclusion(m, n, leaf, forged, root)
    # a changed byte in the leaf's data, before hashing
    changed = data[m] + b"\x00" if not data[m] else flip(data[m], position)
    assume(changed not in data)
    assert not merkle.verify_inclusion(m, n, ref_leaf(changed), audit_path, root)


@settings(max_examples=200, deadline=None)
@given(tree_and_index(), st.data())
def test_inclusion_rejects_a_wrong_index(case, draw):
    data, m = case
    n = len(data)
    assume(n > 1)
    other = draw.draw(st.integers(0, n - 1).filter(lambda i: i != m), label="index")
    assert not merkle.verify_inclusion(other, n, ref_leaf(data[m]), path(m, data), mth(data))
    # nor does the proof of m vouch for the leaf that really sits at the other index
    assert not merkle.verify_inclusion(other, n, ref_leaf(data[other]), path(m, data), mth(data))


@settings(max_examples=200, deadline=None)
@given(tree_and_index(), st.integers(1, 200))
def test_inclusion_rejects_a_wrong_tree_size_unless_it_implies_the_same_hashing(case, size):
    data, m = case
    n = len(data)
    assume(size != n)
    audit_path = path(m, data)
    verdict = merkle.verify_inclusion(m, size, ref_leaf(data[m]), audit_path, mth(data))
    # RFC 9162 binds a proof to (index, size) only through the shape of the computation; two
    # sizes can share it (leaf 4 of 7 and of 8), which is why the size comes from the signed
    # checkpoint. Whenever the shape differs, the proof must fail.
    if inclusion_shape(m, size, len(audit_path)) != inclusion_shape(m, n, len(audit_path)):
        assert not verdict
    else:
        assert verdict


def test_inclusion_size_ambiguity_is_exactly_the_rfc_one():
    # documents the case the property above allows: same computation for sizes 7 and 8
    data = DATA[:7]
    assert inclusion_shape(4, 7, 3) == inclusion_shape(4, 8, 3)
    assert merkle.verify_inclusion(4, 8, ref_leaf(data[4]), path(4, data), mth(data))
    assert not merkle.verify_inclusion(4, 6, ref_leaf(data[4]), path(4, data), mth(data))


@settings(max_examples=200, deadline=None)
@given(tree_and_index(), hashes)
def test_inclusion_rejects_a_truncated_or_extended_proof(case, extra):
    data, m = case
    n, leaf, root = len(data), ref_leaf(data[m]), mth(data)
    audit_path = path(m, data)
    if audit_path:
        assert not merkle.verify_inclusion(m, n, leaf, audit_path[:-1], root)
        assert not merkle.verify_inclusion(m, n, leaf, audit_path[1:], root)
    assert not merkle.verify_inclusion(m, n, leaf, [*audit_path, extra], root)
    assert not merkle.verify_inclusion(m, n, leaf, [extra, *audit_path], root)
    assert not merkle.verify_inclusion(m, n, leaf, [*audit_path, root], root)


@settings(max_examples=150, deadline=None)
@given(unique_data, st.data())
def test_swapped_leaves_change_the_root_and_break_proofs(data, draw):
    assume(len(data) > 1)
    i = draw.draw(st.integers(0, len(data) - 1), label="i")
    j = draw.draw(st.integers(0, len(data) - 1).filter(lambda x: x != i), label="j")
    swapped = list(data)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    leaves = [merkle.leaf_hash(d) for d in swapped]
    assert merkle.root_of(leaves) != mth(data)
    frontier = merkle.Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    assert frontier.root() != mth(data)
    # the honest proof of i does not vouch for the leaf moved into position i
    assert not merkle.verify_inclusion(i, len(data), ref_leaf(swapped[i]), path(i, data),
                                       mth(data))
    # a log whose prefix up to max(i, j) was reordered is not consistent with the old head
    m = max(i, j) + 1
    if m < len(data):
        forged = merkle.consistency_proof(m, leaves)
        assert not merkle.verify_consistency(m, len(data), mth(data[:m]),
                                             merkle.root_of(leaves), forged)


@settings(max_examples=200, deadline=None)
@given(tree_and_prefix(), st.data())
def test_consistency_rejects_any_changed_byte(case, draw):
    data, m = case
    n = len(data)
    first, second = mth(data[:m]), mth(data)
    consistency = proof(m, data)
    position = draw.draw(st.integers(0, 31), label="byte")
    assert not merkle.verify_consistency(m, n, flip(first, position), second, consistency)
    assert not merkle.verify_consistency(m, n, first, flip(second, position), consistency)
    if consistency:
        which = draw.draw(st.integers(0, len(consistency) - 1), label="element")
        forged = list(consistency)
        forged[which] = flip(forged[which], position)
        assert not merkle.verify_consistency(m, n, first, second, forged)


@settings(max_examples=200, deadline=None)
@given(tree_and_prefix(), st.data())
def test_consistency_rejects_a_rewritten_prefix(case, draw):
    data, m = case
    n = len(data)
    assume(m < n)
    position = draw.draw(st.integers(0, m - 1), label="row")
    rewritten = list(data)
    rewritten[position] = rewritten[position] + b"!"
    assume(rewritten[position] not in data)
    new_root = mth(rewritten)
    new_proof = merkle.consistency_proof(m, [merkle.leaf_hash(d) for d in rewritten])
    assert not merkle.verify_consistency(m, n, mth(data[:m]), new_root, new_proof)
    # appending only, after the prefix, keeps it consistent
    appended = [*data, b"appended " + bytes([len(data) % 256])]
    assume(appended[-1] not in data)
    later = merkle.consistency_proof(m, [merkle.leaf_hash(d) for d in appended])
    assert merkle.verify_consistency(m, n + 1, mth(data[:m]), mth(appended), later)


@settings(max_examples=200, deadline=None)
@given(tree_and_prefix(), st.integers(0, 200), st.integers(1, 200))
def test_consistency_rejects_wrong_sizes_unless_they_imply_the_same_hashing(case, m2, n2):
    data, m = case
    n = len(data)
    assume((m2, n2) != (m, n))
    consistency = proof(m, data)
    first, second = mth(data[:m]), mth(data)
    verdict = merkle.verify_consistency(m2, n2, first, second, consistency)
    if m2 == 0:
        # consistency with the empty tree holds trivially, and only with an empty proof
        assert verdict == (not consistency)
    else:
        length = len(consistency)
        same_shape = consistency_shape(m2, n2, length) == consistency_shape(m, n, length)
        assert verdict == (m2 <= n2 and same_shape)


@settings(max_examples=200, deadline=None)
@given(tree_and_prefix(), hashes)
def test_consistency_rejects_a_truncated_or_extended_proof(case, extra):
    data, m = case
    n = len(data)
    first, second = mth(data[:m]), mth(data)
    consistency = proof(m, data)
    if consistency:
        assert not merkle.verify_consistency(m, n, first, second, consistency[:-1])
        assert not merkle.verify_consistency(m, n, first, second, consistency[1:])
    assert not merkle.verify_consistency(m, n, first, second, [*consistency, extra])
    assert not merkle.verify_consistency(m, n, first, second, [extra, *consistency])
    # the RFC leaves the old root out of the proof when m is a power of two: putting it back
    # in is an extended proof too
    assert not merkle.verify_consistency(m, n, first, second, [first, *consistency])


@settings(max_examples=100, deadline=None)
@given(tree_and_prefix(), st.lists(hashes, max_size=8))
def test_consistency_verifier_agrees_with_the_naive_one_on_arbitrary_proofs(case, junk):
    data, m = case
    n = len(data)
    first, second = mth(data[:m]), mth(data)
    for candidate in (junk, proof(m, data)[: len(junk)], [*proof(m, data), *junk]):
        assert merkle.verify_consistency(m, n, first, second, candidate) == \
            naive_verify_consistency(m, n, first, second, candidate)


@settings(max_examples=50, deadline=None)
@given(st.lists(hashes, max_size=40), st.lists(hashes, min_size=1, max_size=5))
def test_a_copied_frontier_grows_apart_from_its_original(data, more):
    original = merkle.Frontier()
    for item in data:
        original.append(ref_leaf(item))
    twin = original.copy()
    for item in more:
        twin.append(ref_leaf(item))
    assert (original.size, original.root()) == (len(data), mth(data))
    assert (twin.size, twin.root()) == (len(data) + len(more), mth([*data, *more]))


@settings(max_examples=50, deadline=None)
@given(st.lists(hashes, max_size=40), st.lists(hashes, min_size=1, max_size=5),
       st.lists(hashes, min_size=1, max_size=5))
def test_frontiers_rebuilt_or_copied_keep_their_own_roots(data, mine, theirs):
    """A frontier rebuilt from its stored nodes, and its copy, each append on their own, their
    roots as the naive tree's after every append."""
    grown = merkle.Frontier()
    for item in data:
        grown.append(ref_leaf(item))
    rebuilt = merkle.Frontier(grown.size, grown.nodes)
    twin = rebuilt.copy()
    for item in mine:
        root = rebuilt.append_and_root(ref_leaf(item))
        assert root == rebuilt.root()
    for item in theirs:
        twin.append_and_root(ref_leaf(item))
    assert rebuilt.root() == mth([*data, *mine])
    assert twin.root() == mth([*data, *theirs])
    assert grown.root() == mth(data)
