"""Merkle tree hashing, inclusion and consistency proofs, exactly as RFC 9162 §2.1.

Hashes are SHA-256 with domain separation: a leaf is ``H(0x00 || data)``, an interior node
``H(0x01 || left || right)``; the empty tree's hash is ``H("")``. Proof *generation* asks a
``subtree`` function for MTH(D[start:end]) of ranges that RFC 9162's recursion visits, so a
store that keeps every complete aligned subtree answers it in O(log n) reads
(:func:`range_hash`). Verification follows the RFC's algorithms step by step.

>>> leaves = [leaf_hash(bytes([i])) for i in range(7)]
>>> root = root_from_leaves(leaves)
>>> proof = inclusion_proof(3, 7, lambda a, b: root_from_leaves(leaves[a:b]))
>>> verify_inclusion(3, 7, leaves[3], proof, root)
True
>>> old = root_from_leaves(leaves[:3])
>>> cproof = consistency_proof(3, 7, lambda a, b: root_from_leaves(leaves[a:b]))
>>> verify_consistency(3, 7, old, root, cproof)
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

#: MTH(D[start:end]) for a range the proof recursion asks about.
SubtreeHash = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof that does not verify; the message says which check failed."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1 leaf hash ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1 interior node hash ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): where MTH splits a list.

    >>> [split_point(n) for n in (2, 3, 4, 5, 8, 9)]
    [1, 2, 2, 4, 4, 8]
    """
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves, iteratively (left-to-right stack of complete subtrees)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    stack: list[tuple[int, bytes]] = []  # (size, hash) of complete subtrees, sizes decreasing
    for h in leaf_hashes:
        size, node = 1, h
        while stack and stack[-1][0] == size:
            left_size, left = stack.pop()
            size, node = left_size + size, node_hash(left, node)
        stack.append((size, node))
    _, node = stack.pop()
    while stack:
        _, left = stack.pop()
        node = node_hash(left, node)
    return node


def range_hash(start: int, end: int, complete: Callable[[int, int], bytes]) -> bytes:
    """MTH(D[start:end]) from complete aligned subtrees; ``start`` must be aligned to the split.

    ``complete(level, index)`` returns the hash of leaves ``[index*2**level, (index+1)*2**level)``.
    RFC 9162's recursion only asks for ranges whose start is a multiple of a power of two at
    least as large as the left part, so every left part is complete and the right edge is
    decomposed in at most log2(n) steps.
    """
    n = end - start
    if n <= 0:
        raise ValueError(f"empty or negative range [{start}, {end})")
    if n & (n - 1) == 0 and start % n == 0:
        level = n.bit_length() - 1
        return complete(level, start >> level)
    k = split_point(n)
    return node_hash(range_hash(start, start + k, complete), range_hash(start + k, end, complete))


def inclusion_proof(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1: the audit path of leaf ``index`` in tree ``size``."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    proof: list[bytes] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = split_point(end - start)
        if m < k:
            proof.append(subtree(start + k, end))
            end = start + k
        else:
            proof.append(subtree(start, start + k))
            start, m = start + k, m - k
    proof.reverse()
    return proof


def consistency_proof(first: int, second: int, subtree: SubtreeHash) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1: tree ``first`` is a prefix of tree ``second``."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    proof: list[bytes] = []
    start, end, m, whole = 0, second, first, True  # SUBPROOF(m, D[start:end], b)
    while True:
        n = end - start
        if m == n:
            if not whole:
                proof.append(subtree(start, end))
            break
        k = split_point(n)
        if m <= k:
            proof.append(subtree(start + k, end))
            end = start + k
        else:
            proof.append(subtree(start, start + k))
            start, m, whole = start + k, m - k, False
    proof.reverse()
    return proof


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` show ``leaf`` at ``index`` in the tree with ``root``?"""
    try:
        return _root_from_inclusion(index, size, leaf, proof) == root
    except ProofError:
        return False


def _root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    if index >= size or index < 0:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("proof is longer than the path")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("proof is shorter than the path")
    return r


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: is the tree (``first``, ``first_root``) a prefix of the second?"""
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof  # the empty tree is a prefix of every tree
    if first > second or not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # first is a power of two: its root is the first proof node
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root
