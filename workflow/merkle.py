"""A Merkle tree hashed as RFC 9162 (Certificate Transparency v2) section 2.1 says.

leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right), empty tree = SHA-256("").
:class:`Frontier` appends in O(log n) keeping only the roots of the perfect subtrees; the proof
functions follow RFC 9162 sections 2.1.3 (inclusion) and 2.1.4 (consistency) to the letter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32  # bytes of a SHA-256 digest
EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """The compact state of an append-only tree: one root per set bit of its size.

    Beside the nodes it keeps, for every node but the last, a SHA-256 already fed ``0x01 ||
    node``: a root is then one copy, one update and one digest per node (half the cost of
    hashing the concatenation anew), and a root is computed for every row written or verified.
    """

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if len(nodes) != bin(size).count("1"):
            raise ValueError(f"a tree of {size} leaves keeps {bin(size).count('1')} nodes")
        if any(len(node) != HASH_SIZE for node in nodes):
            raise ValueError(f"a node of a tree is a hash of {HASH_SIZE} bytes")
        self.size = size
        self.nodes = list(nodes)
        self._fed = [_sha256(b"\x01" + node) for node in self.nodes[:-1]]

    def copy(self) -> Frontier:
        """Another frontier of the same tree, appended to on its own."""
        twin = Frontier.__new__(Frontier)  # no check: this one passed it
        twin.size, twin.nodes = self.size, self.nodes.copy()
        twin._fed = [fed.copy() for fed in self._fed]  # appending updates them in place
        return twin

    def append(self, leaf: bytes) -> None:
        index = self.size
        nodes, fed = self.nodes, self._fed
        if nodes:
            fed.append(_sha256(b"\x01" + nodes[-1]))
        nodes.append(leaf)
        self.size += 1
        while index & 1:  # node_hash(left, right), from left's fed hash: no copy, it goes
            right = nodes.pop()
            nodes.pop()
            left = fed.pop()
            left.update(right)
            nodes.append(left.digest())
            index >>= 1

    def append_and_root(self, leaf: bytes) -> bytes:
        """:meth:`append` then :meth:`root`, in one call: verification does both for every
        row."""
        self.append(leaf)
        root = self.nodes[-1]
        for fed in self._fed[::-1]:  # right to left
            hashed = fed.copy()
            hashed.update(root)
            root = hashed.digest()
        return root

    def root(self) -> bytes:
        nodes = self.nodes
        if not nodes:
            return EMPTY_ROOT
        root = nodes[-1]
        for fed in self._fed[::-1]:
            hashed = fed.copy()
            hashed.update(root)
            root = hashed.digest()
        return root


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes (RFC 9162 2.1.1)."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(root_of(leaves[:k]), root_of(leaves[k:]))


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (RFC 9162 2.1.3.1)."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError(f"leaf {index} is not in a tree of {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(index, leaves[:k]), root_of(leaves[k:])]
    return [*inclusion_proof(index - k, leaves[k:]), root_of(leaves[:k])]


def consistency_proof(first: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) (RFC 9162 2.1.4.1)."""
    if not 0 < first <= len(leaves):
        raise ValueError(f"no consistency proof from {first} to {len(leaves)}")
    return _subproof(first, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [root_of(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), root_of(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root_of(leaves[:k])]


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes],
                     root: bytes) -> bool:
    """RFC 9162 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 2.1.4.2."""
    if first > second or first < 0:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
