"""AffectiveSpace 2 (Cambria, Fu, Bisio, Poria; AAAI 2015): a vector space of affective common-sense
concepts built by random projection of an AffectNet-like matrix, and the reasoning done in it.

    Cambria E., Fu J., Bisio F., Poria S. "AffectiveSpace 2: Enabling Affective Intuition for
    Concept-Level Sentiment Analysis". Proceedings of AAAI 2015, pp. 508-514.

Map from the paper to the code (the full text was not reachable; the method as known from its
abstract and the group's later papers, see /work/shared/PAPERS.md P4):
  AffectNet A (concepts x common-sense features)   data.build_affectnet_proxy (a public proxy)
  AffectiveSpace 1: A ~ U_k S_k V_k^T, space U_k S_k   projections._svd (scikit-learn TruncatedSVD)
  AffectiveSpace 2: space A R / sqrt(k), R random      kernels/random_projection.cu + CPU twin
    (sparse Achlioptas / very sparse / Gaussian R, entries from a counter-based hash, never stored)
  JL lemma: (1-e)|x-y|^2 <= |f(x)-f(y)|^2 <= (1+e)|x-y|^2   reasoning.jl_distortion
  sentic medoids (k-medoids seeded by emotion categories)   reasoning.k_medoids
  affective intuition (polarity / emotion of a concept from its neighbours)   reasoning.knn_vote
"""

from lightning_modules.affective_space.datamodule import SenticNetDataModule
from lightning_modules.affective_space.module import AffectiveSpaceModule

__all__ = ["AffectiveSpaceModule", "SenticNetDataModule"]
