"""RFC 6962 tree hashing and proofs, checked against the known answers every CT log implementation
uses (transparency-dev/merkle, proof/verify_test.go and rfc6962/rfc6962_test.go: the 8 standard
leaves, the roots of their trees of 1 to 8 leaves, and their inclusion and consistency proofs)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.errors import ProofInvalid
from hub.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion_proof,
    roots_at,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [bytes.fromhex(h) for h in [
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]]  # fmt: skip
ROOTS = [bytes.fromhex(h) for h in [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]]  # fmt: skip
# (leaf index, tree size, audit path), the index 0-based.
INCLUSION = [
    (0, 1, []),
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
]  # fmt: skip
# (first size, second size, consistency proof)
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip

HASHES = [leaf_hash(leaf) for leaf in LEAVES]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def test_leaf_and_node_hashes_are_domain_separated_sha256() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert leaf_hash(b"L123456").hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_of_the_standard_trees(size: int) -> None:
    assert root(HASHES[:size]) == ROOTS[size - 1]


def test_the_empty_tree_has_the_hash_of_nothing() -> None:
    assert root([]) == EMPTY_ROOT


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_match_the_known_answers(index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(index, HASHES[:size])
    assert [p.hex() for p in proof] == path
    verify_inclusion(index, size, HASHES[index], proof, ROOTS[size - 1])


@pytest.mark.parametrize(("first", "second", "path"), CONSISTENCY)
def test_consistency_proofs_match_the_known_answers(
    first: int, second: int, path: list[str]
) -> None:
    proof = consistency_proof(first, HASHES[:second])
    assert [p.hex() for p in proof] == path
    verify_consistency(first, second, ROOTS[first - 1], ROOTS[second - 1], proof)


def _flipped(proof: list[bytes], at: int) -> list[bytes]:
    changed = list(proof)
    changed[at] = bytes([changed[at][0] ^ 8]) + changed[at][1:]
    return changed


@pytest.mark.parametrize(("index", "size", "path"), [v for v in INCLUSION if v[2]])
def test_a_corrupted_inclusion_proof_is_refused(index: int, size: int, path: list[str]) -> None:
    proof = [bytes.fromhex(p) for p in path]
    good_root, leaf = ROOTS[size - 1], HASHES[index]
    probes = [
        (index - 1, size, leaf, proof, good_root),
        (index + 1, size, leaf, proof, good_root),
        (index ^ 2, size, leaf, proof, good_root),
        (index, size * 2, leaf, proof, good_root),
        (index, size // 2, leaf, proof, good_root),
        (index, size, SOME_HASH, proof, good_root),
        (index, size, leaf, proof, EMPTY_ROOT),
        (index, size, leaf, proof, SOME_HASH),
        (index, size, leaf, [*proof, good_root], good_root),
        (index, size, leaf, [good_root, *proof], good_root),
        (index, size, leaf, proof[:-1], good_root),
        (index, size, leaf, [*proof, b""], good_root),
        *[(index, size, leaf, _flipped(proof, i), good_root) for i in range(len(proof))],
    ]
    for probe in probes:
        with pytest.raises(ProofInvalid):
            verify_inclusion(*probe)


@pytest.mark.parametrize(("first", "second", "path"), [v for v in CONSISTENCY if v[2]])
def test_a_corrupted_consistency_proof_is_refused(first: int, second: int, path: list[str]) -> None:
    proof = [bytes.fromhex(p) for p in path]
    r1, r2 = ROOTS[first - 1], ROOTS[second - 1]
    probes = [
        (first - 1, second, r1, r2, proof),
        (first + 1, second, r1, r2, proof),
        (first ^ 2, second, r1, r2, proof),
        (first, second * 2, r1, r2, proof),
        (first, second // 2, r1, r2, proof),
        (first, second, SOME_HASH, r2, proof),
        (first, second, r1, SOME_HASH, proof),
        (first, second, r2, r1, proof),
        (first, second, r1, r2, []),
        (first, second, r1, r2, [*proof, r1]),
        (first, second, r1, r2, [*proof, r2]),
        (first, second, r1, r2, [r1, *proof]),
        (first, second, r1, r2, [proof[0], *proof]),
        (first, second, r1, r2, proof[:-1]),
        *[(first, second, r1, r2, _flipped(proof, i)) for i in range(len(proof))],
    ]
    for probe in probes:
        if probe[0] == 0 and not probe[4]:
            continue  # the empty tree is a prefix of every tree
        with pytest.raises(ProofInvalid):
            verify_consistency(*probe)


def test_trivial_consistency_cases() -> None:
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [])
    verify_consistency(3, 3, ROOTS[2], ROOTS[2], [])
    with pytest.raises(ProofInvalid):
        verify_consistency(3, 3, ROOTS[2], ROOTS[3], [])
    with pytest.raises(ProofInvalid):
        verify_consistency(4, 3, ROOTS[3], ROOTS[2], [])
    with pytest.raises(ProofInvalid):
        inclusion_proof(3, HASHES[:3])


@given(st.lists(st.binary(max_size=8), min_size=1, max_size=70), st.data())
def test_every_proof_the_tree_makes_verifies(entries: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(e) for e in entries]
    size = len(hashes)
    index = data.draw(st.integers(0, size - 1))
    verify_inclusion(index, size, hashes[index], inclusion_proof(index, hashes), root(hashes))
    first = data.draw(st.integers(0, size))
    verify_consistency(
        first, size, root(hashes[:first]), root(hashes), consistency_proof(first, hashes)
    )


def test_a_different_entry_gives_a_different_leaf() -> None:
    assert leaf_hash(b"a") != hashlib.sha256(b"a").digest()
    assert root([leaf_hash(b"a"), leaf_hash(b"b")]) != root([leaf_hash(b"b"), leaf_hash(b"a")])


@given(st.lists(st.binary(max_size=4), max_size=70), st.data())
def test_the_roots_of_many_prefixes_in_one_pass_are_the_roots_of_each(
    entries: list[bytes], data: st.DataObject
) -> None:
    hashes = [leaf_hash(e) for e in entries]
    sizes = set(data.draw(st.lists(st.integers(0, len(hashes)), max_size=6)))
    assert roots_at(hashes, sizes) == {size: root(hashes[:size]) for size in sizes}


@given(st.lists(st.binary(max_size=4), max_size=70), st.data())
def test_a_frontier_kept_and_restored_grows_into_the_same_tree(
    entries: list[bytes], data: st.DataObject
) -> None:
    hashes = [leaf_hash(e) for e in entries]
    cut = data.draw(st.integers(0, len(hashes)))
    first = Frontier()
    for leaf in hashes[:cut]:
        first.append(leaf)
    assert first.root() == root(hashes[:cut])
    assert len(first.hashes()) == bin(cut).count("1")  # one perfect subtree per bit of the size
    later = Frontier.restore(cut, first.hashes())
    for leaf in hashes[cut:]:
        later.append(leaf)
    assert (later.size, later.root()) == (len(hashes), root(hashes))


def test_a_frontier_that_does_not_fit_its_size_is_refused() -> None:
    three = Frontier()
    for entry in (b"a", b"b", b"c"):
        three.append(leaf_hash(entry))
    with pytest.raises(ProofInvalid):
        Frontier.restore(4, three.hashes())  # 4 is one subtree, 3 is two
    with pytest.raises(ProofInvalid):
        Frontier.restore(3, [three.hashes()[0], "zz"])


def test_a_hash_of_the_wrong_length_or_a_leaf_outside_the_tree_is_refused_before_hashing() -> None:
    leaves = [leaf_hash(bytes([i])) for i in range(5)]
    tree = root(leaves)
    path = inclusion_proof(4, leaves)
    assert root_from_inclusion_proof(4, 5, leaves[4], path) == tree
    for index in (5, -1):
        with pytest.raises(ProofInvalid):
            root_from_inclusion_proof(index, 5, leaves[4], path)
    with pytest.raises(ProofInvalid):
        root_from_inclusion_proof(4, 5, leaves[4][:31], path)
    with pytest.raises(ProofInvalid):
        root_from_inclusion_proof(4, 5, leaves[4], [path[0][:31], *path[1:]])
    small = root(leaves[:3])
    proof = consistency_proof(3, leaves)
    verify_consistency(3, 5, small, tree, proof)
    for bad in (
        (small[:31], tree, proof),
        (small, tree[:31], proof),
        (small, tree, [proof[0][:31], *proof[1:]]),
    ):
        with pytest.raises(ProofInvalid):
            verify_consistency(3, 5, *bad)
    for first, second in ((-1, 5), (6, 5)):
        with pytest.raises(ProofInvalid):
            verify_consistency(first, second, small, tree, proof)
