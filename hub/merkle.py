"""Merkle tree hashing and proofs exactly as RFC 6962 (Certificate Transparency) defines them.

Leaves and nodes are domain-separated SHA-256 (RFC 6962 §2.1):

    leaf hash = SHA-256(0x00 || entry bytes)
    node hash = SHA-256(0x01 || left || right)

and the tree over n leaves splits at k, the largest power of two smaller than n. Proofs are built
with RFC 6962's PATH and SUBPROOF recursions and verified with the iterative algorithms of
RFC 9162 §2.1.3.2 and §2.1.4.2, so any CT-compatible verifier (transparency-dev/merkle, Trillian,
sigstore) accepts them. Every function takes leaf hashes, never entries: a tree is its leaf list.
It is a pure layer beneath the audit log, which builds its proofs with it, so that a connector
can check an evidence bundle's inclusion proofs with it offline (connectors.recipient.evidence_log).

No maintained Python library exposes RFC 6962 proofs as public API under a licence this project can
ship (sigstore keeps its verifier private and inclusion-only; pymerkle is GPL-3.0 and uses its own
proof format), so this module stays small and is tested with the transparency-dev known answers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from hub.errors import ProofInvalid

__all__ = [
    "EMPTY_ROOT",
    "Frontier",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from_inclusion_proof",
    "roots_at",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    """The hash of one leaf: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _root(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    # Pairing bottom-up and carrying an odd last node upwards gives RFC 6962's left-balanced tree.
    level = list(leaves[lo:hi])
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash (MTH) of a list of leaf hashes; SHA-256 of nothing for no leaves."""
    return _root(leaves, 0, len(leaves))


@dataclass
class Frontier:
    """The perfect subtrees a log's first `size` leaves decompose into, largest first.

    At most one per bit of `size`, so about 40 hashes for a trillion leaves: enough to add leaves
    and to compute the root (folding the subtrees from the right gives RFC 6962's left-balanced
    tree) without reading the earlier leaves again.
    """

    size: int = 0
    subtrees: list[tuple[int, bytes]] = field(default_factory=list)  # (height, hash)

    def append(self, leaf: bytes) -> None:
        height, node = 0, leaf
        while self.subtrees and self.subtrees[-1][0] == height:
            node = node_hash(self.subtrees.pop()[1], node)
            height += 1
        self.subtrees.append((height, node))
        self.size += 1

    def root(self) -> bytes:
        if not self.subtrees:
            return EMPTY_ROOT
        folded = self.subtrees[-1][1]
        for _, left in reversed(self.subtrees[:-1]):
            folded = node_hash(left, folded)
        return folded

    def hashes(self) -> list[str]:
        """The subtrees' hashes, hex; their heights follow from `size`."""
        return [node.hex() for _, node in self.subtrees]

    @classmethod
    def restore(cls, size: int, hashes: Sequence[str]) -> Frontier:
        """The frontier of `size` leaves from its `hashes()`.

        Raises ProofInvalid if they do not fit the size or are not hashes.
        """
        heights = [bit for bit in reversed(range(size.bit_length())) if size >> bit & 1]
        if len(heights) != len(hashes):
            raise ProofInvalid(f"{len(hashes)} subtree hashes do not fit a tree of {size}")
        try:
            nodes = [bytes.fromhex(h) for h in hashes]
        except ValueError:
            raise ProofInvalid("a subtree hash is not hex") from None
        _check_hashes(*nodes)
        return cls(size=size, subtrees=list(zip(heights, nodes, strict=True)))


def roots_at(leaves: Sequence[bytes], sizes: set[int]) -> dict[int, bytes]:
    """The roots of the trees of the first `size` leaves, for each size asked, in one pass."""
    found = {0: EMPTY_ROOT} if 0 in sizes else {}
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
        if frontier.size in sizes:
            found[frontier.size] = frontier.root()
    return found


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The audit path (RFC 6962 PATH) of leaf `index` in the tree of `leaves`.

    Raises ProofInvalid if the index is outside the tree.
    """
    if not 0 <= index < len(leaves):
        raise ProofInvalid(f"leaf {index} is not in a tree of {len(leaves)}")
    path: list[bytes] = []
    lo, hi = 0, len(leaves)
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(_root(leaves, lo + k, hi))
            hi = lo + k
        else:
            path.append(_root(leaves, lo, lo + k))
            lo = lo + k
    path.reverse()  # PATH lists the siblings from the leaf upwards
    return path


def consistency_proof(first: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The proof (RFC 6962 PROOF) that the tree of the first `first` leaves is a prefix of this one.

    Raises ProofInvalid if `first` is larger than the tree.
    """
    second = len(leaves)
    if not 0 <= first <= second:
        raise ProofInvalid(f"a tree of {first} cannot be a prefix of a tree of {second}")
    if first in (0, second):
        return []
    proof: list[bytes] = []
    lo, hi, complete = 0, second, True
    # SUBPROOF(m, D[lo:hi], complete), unrolled: descend, collecting the sibling subtrees.
    while True:
        m = first - lo
        if m == hi - lo:
            if not complete:
                proof.append(_root(leaves, lo, hi))
            break
        k = _split(hi - lo)
        if m <= k:
            proof.append(_root(leaves, lo + k, hi))
            hi = lo + k
        else:
            proof.append(_root(leaves, lo, lo + k))
            lo, complete = lo + k, False
    proof.reverse()
    return proof


def _check_hashes(*hashes: bytes) -> None:
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ProofInvalid("a hash is not 32 bytes")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root a leaf and its audit path lead to (RFC 9162 §2.1.3.2, steps 1 to 5).

    Raises ProofInvalid if the path does not fit a tree of `size`.
    """
    _check_hashes(leaf, *proof)
    # 1.
    if index >= size or index < 0:
        raise ProofInvalid("leaf index outside the tree")
    # 2. and 3.
    fn, sn, r = index, size - 1, leaf
    # 4.
    for p in proof:
        if sn == 0:
            raise ProofInvalid("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    # 5.
    if sn != 0:
        raise ProofInvalid("inclusion proof too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> None:
    """Check that `leaf` is leaf `index` of the tree of `size` whose root is `expected_root`.

    Raises ProofInvalid.
    """
    _check_hashes(expected_root)
    if root_from_inclusion_proof(index, size, leaf, proof) != expected_root:
        raise ProofInvalid("inclusion proof does not lead to the root")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of size `first` is a prefix of the tree of size `second`.

    RFC 9162 §2.1.4.2, steps 1 to 7, after the trivial cases. Raises ProofInvalid.
    """
    _check_hashes(first_root, second_root, *proof)
    if first < 0 or second < first:
        raise ProofInvalid("a tree cannot shrink")
    if first == second:
        if proof or first_root != second_root:
            raise ProofInvalid("equal sizes need equal roots and an empty proof")
        return
    if first == 0:
        if proof:
            raise ProofInvalid("the empty tree needs an empty proof")
        return
    # 1.
    if not proof:
        raise ProofInvalid("consistency proof is empty")
    # 2.
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    # 3.
    fn, sn = first - 1, second - 1
    # 4.
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        if sn == 0:
            raise ProofInvalid("consistency proof too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    # 7.
    if sn != 0 or fr != first_root or sr != second_root:
        raise ProofInvalid("consistency proof does not lead to both roots")
