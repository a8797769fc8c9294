"""The diversity check: a candidate must not repeat an accepted problem, nor one of an
excluded dataset (the user's evaluation set, the built-in set).

Four checks, cheapest first, each against everything accepted so far (and the excluded
problems) through an index, so cost per candidate stays flat as the dataset grows:

* exact: the normalised problem text (``fingerprints.text_key``), a hash set;
* structural: the canonical solution's normalised syntax tree, a hash set;
* near: MinHash signatures of the text's word triples (``datasketch``).  The last
  ``window`` accepted problems are compared one by one (the original design's sliding
  window); all of them are found through LSH banding (bands and rows chosen by
  ``datasketch.MinHashLSH`` for the threshold, weighted towards recall), and each band
  match is confirmed with the stored signature, so no false positive is rejected;
* semantic: cosine similarity of embeddings, only when an embedding function is given;
  without one this check is skipped and the report says so.

A match against an excluded dataset is ``contaminated_*`` rather than ``duplicate_*``.
Owners are task ids; excluded ones are ``exclude:<dataset>/<task id>``.

Memory per indexed problem is about a kilobyte: signatures live in one growing array of
32-bit values, band and text keys are 64-bit integers, so a run of thousands of problems
stays flat.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from llm_solutions.dataset import Problem
from llm_solutions.generation.fingerprints import shingles, structure_key, text_key
from llm_solutions.generation.verification import Rejection

#: An embedding function: texts in, one vector per text out (e.g. ``ls.embed``).
Embedder = Callable[[list[str]], Awaitable[Sequence[Sequence[float]]]]

NUM_PERM = 64
EXCLUDED = "exclude:"
#: Known problems (excluded datasets, earlier runs) are embedded this many per call.
EMBED_BATCH = 64
# A band match is confirmed with the signature, so banding may favour recall over precision.
_LSH_WEIGHTS = (0.1, 0.9)


@dataclass
class Fingerprint:
    """What the checks compare, computed once per candidate."""

    text: str
    structure: str | None
    signature: np.ndarray  # MinHash values, uint32
    vector: np.ndarray | None = None


_TEMPLATE: list[Any] = []


def minhash_signature(text: str) -> np.ndarray:
    """The MinHash signature of ``text``'s word triples (``datasketch``)."""
    from datasketch import MinHash

    if not _TEMPLATE:
        _TEMPLATE.append(MinHash(num_perm=NUM_PERM))
    # Permutations shared with one template, not drawn again for every signature.
    template = _TEMPLATE[0]
    minhash = MinHash(num_perm=NUM_PERM, permutations=template.permutations, scheme=template.scheme)
    minhash.update_batch(sorted(shingles(text)))
    return np.asarray(minhash.hashvalues, dtype=np.uint32)


def _key(text: str) -> int:
    return int(text[:16], 16)  # 64 bits of a hex digest


class DiversityIndex:
    """Accepted and excluded problems, indexed for the four checks."""

    def __init__(self, *, threshold: float, window: int, semantic_threshold: float = 0.92) -> None:
        from datasketch import MinHashLSH

        self.threshold = threshold
        self.semantic_threshold = semantic_threshold
        chosen = MinHashLSH(threshold=threshold, num_perm=NUM_PERM, weights=_LSH_WEIGHTS)
        self._ranges = [(i * chosen.r, (i + 1) * chosen.r) for i in range(chosen.b)]
        self._owners: list[str] = []
        self._signatures = np.zeros((64, NUM_PERM), dtype=np.uint32)
        self._texts: dict[int, int] = {}
        self._structures: dict[int, int] = {}
        self._bands: dict[int, int | list[int]] = {}
        self._recent: deque[int] = deque(maxlen=window)
        self._vectors: list[np.ndarray] = []
        self._vector_owners: list[str] = []
        self._matrix: np.ndarray | None = None
        self.excluded = 0

    @staticmethod
    def fingerprint(problem: Problem) -> Fingerprint:
        return Fingerprint(text=text_key(problem.problem), structure=structure_key(problem.canonical_solution),
                           signature=minhash_signature(problem.problem))

    def _band_keys(self, signature: np.ndarray) -> list[int]:
        keys = []
        for number, (start, end) in enumerate(self._ranges):
            digest = hashlib.blake2b(signature[start:end].tobytes(), digest_size=8, salt=number.to_bytes(8, "big"))
            keys.append(int.from_bytes(digest.digest(), "big"))
        return keys

    # --- checks ------------------------------------------------------------------------

    @staticmethod
    def _verdict(kind: str, owner: str, detail: str) -> Rejection:
        if owner.startswith(EXCLUDED):
            reason = {"duplicate_exact": "contaminated_exact", "duplicate_structure": "contaminated_structure",
                      "near_duplicate": "contaminated_near", "semantic_duplicate": "contaminated_semantic"}[kind]
            return Rejection(reason, f"{detail} {owner[len(EXCLUDED):]} (excluded dataset)")
        return Rejection(kind, f"{detail} {owner}")

    def check(self, fingerprint: Fingerprint) -> Rejection | None:
        """The first check the candidate fails, or ``None`` (embeddings included when the
        fingerprint carries a vector)."""
        row = self._texts.get(_key(fingerprint.text))
        if row is not None:
            return self._verdict("duplicate_exact", self._owners[row], "same problem text as")
        if fingerprint.structure is not None:
            row = self._structures.get(_key(fingerprint.structure))
            if row is not None:
                return self._verdict("duplicate_structure", self._owners[row], "same solution structure as")
        near = self._near(fingerprint.signature)
        if near is not None:
            row, similarity = near
            return self._verdict("near_duplicate", self._owners[row], f"text similarity {similarity:.2f} with")
        if fingerprint.vector is not None:
            close = self._closest(fingerprint.vector)
            if close is not None:
                owner, similarity = close
                return self._verdict("semantic_duplicate", owner, f"embedding similarity {similarity:.2f} with")
        return None

    def _similarities(self, rows: list[int], signature: np.ndarray) -> np.ndarray:
        return np.count_nonzero(self._signatures[rows] == signature, axis=1) / NUM_PERM

    def _near(self, signature: np.ndarray) -> tuple[int, float] | None:
        for rows in (list(self._recent), self._candidates(signature)):
            if not rows:
                continue
            similarities = self._similarities(rows, signature)
            best = int(np.argmax(similarities))
            if similarities[best] >= self.threshold:
                return rows[best], float(similarities[best])
        return None

    def _candidates(self, signature: np.ndarray) -> list[int]:
        found: set[int] = set()
        for key in self._band_keys(signature):
            rows = self._bands.get(key)
            if rows is not None:
                found.update(rows if isinstance(rows, list) else (rows,))
        return sorted(found)

    def _closest(self, vector: np.ndarray) -> tuple[str, float] | None:
        if not self._vectors:
            return None
        if self._matrix is None or len(self._matrix) != len(self._vectors):
            self._matrix = np.vstack(self._vectors)
        similarities = self._matrix @ vector
        best = int(np.argmax(similarities))
        if similarities[best] >= self.semantic_threshold:
            return self._vector_owners[best], float(similarities[best])
        return None

    # --- adding ------------------------------------------------------------------------

    def add(self, owner: str, fingerprint: Fingerprint) -> None:
        """Index an accepted (or excluded) problem under ``owner``."""
        row = len(self._owners)
        self._owners.append(owner)
        if row >= len(self._signatures):
            grown = np.zeros((2 * len(self._signatures), NUM_PERM), dtype=np.uint32)
            grown[:row] = self._signatures
            self._signatures = grown
        self._signatures[row] = fingerprint.signature
        self._texts.setdefault(_key(fingerprint.text), row)
        if fingerprint.structure is not None:
            self._structures.setdefault(_key(fingerprint.structure), row)
        for key in self._band_keys(fingerprint.signature):
            held = self._bands.get(key)
            if held is None:
                self._bands[key] = row
            elif isinstance(held, list):
                held.append(row)
            else:
                self._bands[key] = [held, row]
        if not owner.startswith(EXCLUDED):
            self._recent.append(row)
        if fingerprint.vector is not None:
            self.add_vector(owner, fingerprint.vector)

    def add_vector(self, owner: str, vector: np.ndarray) -> None:
        """Index the embedding of a problem indexed already (semantic check only)."""
        self._vectors.append(vector)
        self._vector_owners.append(owner)

    def exclude(self, label: str, problems: list[Problem]) -> None:
        """Index the problems of an excluded dataset."""
        for problem in problems:
            self.add(f"{EXCLUDED}{label}/{problem.task_id}", self.fingerprint(problem))
            self.excluded += 1

    def __len__(self) -> int:
        return len(self._owners)


def unit_vector(values: Sequence[float]) -> np.ndarray:
    """``values`` as a float32 vector of length 1 (cosine similarity is then a dot product)."""
    vector = np.asarray(values, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
