"""Merkle hashing and proofs against a straightforward reference of RFC 9162 §2.1."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.transparency import merkle

# -- the reference: the RFC's recursive definitions, written as literally as possible ------


def ref_mth(data: list[bytes]) -> bytes:
    n = len(data)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(data[:k]) + ref_mth(data[k:])).digest()


def ref_path(m: int, data: list[bytes]) -> list[bytes]:
    n = len(data)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, data[:k]), ref_mth(data[k:])]
    return [*ref_path(m - k, data[k:]), ref_mth(data[:k])]


def ref_subproof(m: int, data: list[bytes], whole: bool) -> list[bytes]:
    n = len(data)
    if m == n:
        return [] if whole else [ref_mth(data)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, data[:k], whole), ref_mth(data[k:])]
    return [*ref_subproof(m - k, data[k:], False), ref_mth(data[:k])]


def _leaves(n: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


def _subtree(data: list[bytes]) -> merkle.SubtreeHash:
    return lambda a, b: ref_mth(data[a:b])


# -- fixed cases ---------------------------------------------------------------------------


def test_empty_and_single_leaf_roots() -> None:
    assert merkle.root_from_leaves([]) == hashlib.sha256(b"").digest()
    assert merkle.root_from_leaves([merkle.leaf_hash(b"a")]) == ref_mth([b"a"])


def test_rfc_example_tree_of_seven() -> None:
    """RFC 9162 §2.1.5's example: the path of d0 in the 7-leaf tree is [b, h, l] (3 nodes)."""
    data = _leaves(7)
    proof = merkle.inclusion_proof(0, 7, _subtree(data))
    assert proof == [ref_mth(data[1:2]), ref_mth(data[2:4]), ref_mth(data[4:7])]
    # consistency 3 -> 7 is [c, d, g, l]
    cproof = merkle.consistency_proof(3, 7, _subtree(data))
    assert cproof == [
        ref_mth(data[2:3]),
        ref_mth(data[3:4]),
        ref_mth(data[0:2]),
        ref_mth(data[4:7]),
    ]


def test_range_hash_decomposes_into_complete_subtrees() -> None:
    data = _leaves(13)
    calls: list[tuple[int, int]] = []

    def complete(level: int, index: int) -> bytes:
        calls.append((level, index))
        return ref_mth(data[index << level : (index + 1) << level])

    assert merkle.range_hash(0, 13, complete) == ref_mth(data)
    assert calls == [(3, 0), (2, 2), (0, 12)]  # 8 + 4 + 1: one read per set bit


def test_bad_proof_lengths_fail() -> None:
    data = _leaves(6)
    root = ref_mth(data)
    proof = merkle.inclusion_proof(2, 6, _subtree(data))
    leaf = merkle.leaf_hash(data[2])
    assert merkle.verify_inclusion(2, 6, leaf, proof, root)
    assert not merkle.verify_inclusion(2, 6, leaf, proof[:-1], root)
    assert not merkle.verify_inclusion(2, 6, leaf, [*proof, proof[0]], root)
    assert not merkle.verify_inclusion(6, 6, leaf, proof, root)
    assert not merkle.verify_consistency(3, 6, ref_mth(data[:3]), root, [])
    assert not merkle.verify_consistency(6, 3, root, ref_mth(data[:3]), [root])


# -- properties over random trees ----------------------------------------------------------

sizes = st.integers(min_value=1, max_value=70)


@settings(max_examples=100, deadline=None)
@given(data=st.lists(st.binary(max_size=8), min_size=1, max_size=70))
def test_root_matches_reference(data: list[bytes]) -> None:
    assert merkle.root_from_leaves([merkle.leaf_hash(d) for d in data]) == ref_mth(data)

    # ...and so does the stored-subtree decomposition
    def complete(level: int, index: int) -> bytes:
        return ref_mth(data[index << level : (index + 1) << level])

    assert merkle.range_hash(0, len(data), complete) == ref_mth(data)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_inclusion_proofs_match_reference_and_verify(draw: st.DataObject) -> None:
    n = draw.draw(sizes)
    m = draw.draw(st.integers(0, n - 1))
    data = _leaves(n)
    root = ref_mth(data)
    proof = merkle.inclusion_proof(m, n, _subtree(data))
    assert proof == ref_path(m, data)
    assert merkle.verify_inclusion(m, n, merkle.leaf_hash(data[m]), proof, root)
    # a wrong leaf, index or root is refused
    other = draw.draw(st.integers(0, n - 1).filter(lambda i: i != m)) if n > 1 else None
    if other is not None:
        assert not merkle.verify_inclusion(other, n, merkle.leaf_hash(data[m]), proof, root)
        assert not merkle.verify_inclusion(m, n, merkle.leaf_hash(data[other]), proof, root)
    assert not merkle.verify_inclusion(m, n, merkle.leaf_hash(data[m]), proof, bytes(32))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_consistency_proofs_match_reference_and_verify(draw: st.DataObject) -> None:
    n = draw.draw(sizes)
    m = draw.draw(st.integers(1, n))
    data = _leaves(n)
    proof = merkle.consistency_proof(m, n, _subtree(data))
    assert proof == ref_subproof(m, data, True)
    old, new = ref_mth(data[:m]), ref_mth(data)
    assert merkle.verify_consistency(m, n, old, new, proof)
    if m < n:
        # a rewritten history (any changed leaf among the first m) is not consistent
        i = draw.draw(st.integers(0, m - 1))
        forged = [*data[:i], b"rewritten", *data[i + 1 : m]]
        assert not merkle.verify_consistency(m, n, ref_mth(forged), new, proof)
        assert not merkle.verify_consistency(m, n, old, ref_mth(forged + data[m:]), proof)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_tampered_proof_nodes_fail(draw: st.DataObject) -> None:
    n = draw.draw(st.integers(2, 70))
    m = draw.draw(st.integers(0, n - 1))
    data = _leaves(n)
    proof = merkle.inclusion_proof(m, n, _subtree(data))
    j = draw.draw(st.integers(0, len(proof) - 1))
    bad = list(proof)
    bad[j] = bytes(b ^ 1 if k == 0 else b for k, b in enumerate(bad[j]))
    assert not merkle.verify_inclusion(m, n, merkle.leaf_hash(data[m]), bad, ref_mth(data))
