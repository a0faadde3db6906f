"""Operators' corrections, applied at once by nearest-neighbour lookup before any model.

A retrain takes minutes and needs several examples; an operator who moved five alerts of a
new service to the right team expects the sixth to go there now. The memory compares each
new incident with the corrected ones (fields and words, hashed, see
``features.memory_vectors``) and, when close ones agree, decides without the model.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from triage.classify.features import memory_vectors
from triage.classify.values import Alternative, TriageInput


@dataclass(frozen=True, slots=True)
class Recall:
    label: str
    confidence: float
    similarity: float
    alternatives: tuple[Alternative, ...]


class CorrectionsMemory:
    """Labelled examples for one field (a resolver group, or a category of one kind).

    ``min_similarity`` is how alike an incident must be to a correction for it to count;
    ``min_share`` is the share of the close corrections' similarity that must agree; the
    newest ``capacity`` corrections are kept, since later corrections reflect current teams.
    """

    def __init__(
        self,
        *,
        min_similarity: float = 0.5,
        min_share: float = 0.6,
        neighbours: int = 7,
        capacity: int = 20_000,
    ) -> None:
        self.min_similarity = min_similarity
        self.min_share = min_share
        self.neighbours = neighbours
        self.capacity = capacity
        self._vectors: sp.csr_matrix = sp.csr_matrix((0, 1))
        self._labels: list[str] = []

    def __len__(self) -> int:
        return len(self._labels)

    def add(self, items: Sequence[TriageInput], labels: Sequence[str]) -> None:
        if len(items) != len(labels):
            raise ValueError("items and labels differ in length")
        if not items:
            return
        new = memory_vectors(items)
        vectors = new if not self._labels else sp.vstack([self._vectors, new], format="csr")
        all_labels = self._labels + list(labels)
        if len(all_labels) > self.capacity:
            drop = len(all_labels) - self.capacity
            vectors, all_labels = vectors[drop:], all_labels[drop:]
        self._vectors, self._labels = vectors, all_labels

    def recall(self, items: Sequence[TriageInput]) -> list[Recall | None]:
        """For each item, the corrected label close neighbours agree on, or ``None``."""
        if not self._labels or not items:
            return [None] * len(items)
        sims = sp.csr_matrix(memory_vectors(items) @ self._vectors.T)
        out: list[Recall | None] = []
        for n in range(sims.shape[0]):
            # Only the corrections that share a feature with the item are stored in its row,
            # so the cost follows the overlap, not the size of the memory.
            start, end = sims.indptr[n], sims.indptr[n + 1]
            scores, columns = sims.data[start:end], sims.indices[start:end]
            keep = scores >= self.min_similarity
            scores, columns = scores[keep], columns[keep]
            if len(scores) > self.neighbours:
                top = np.argpartition(-scores, self.neighbours - 1)[: self.neighbours]
                scores, columns = scores[top], columns[top]
            if not len(scores):
                out.append(None)
                continue
            order = np.lexsort((columns, -scores))  # best first; on a tie, the older correction
            close = [(int(columns[i]), float(scores[i])) for i in order]
            votes: dict[str, float] = defaultdict(float)
            for i, score in close:
                votes[self._labels[i]] += score
            total = sum(votes.values())
            ranked = sorted(votes.items(), key=lambda kv: -kv[1])
            label, weight = ranked[0]
            share = weight / total
            if share < self.min_share:
                out.append(None)
                continue
            out.append(
                Recall(
                    label=label,
                    confidence=round(share, 4),
                    similarity=round(close[0][1], 4),
                    alternatives=tuple(
                        Alternative(lab, round(w / total, 4)) for lab, w in ranked[:3]
                    ),
                )
            )
        return out
