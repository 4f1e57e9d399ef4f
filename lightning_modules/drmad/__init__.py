"""DrMAD: Distilling Reverse-Mode Automatic Differentiation for Optimizing Hyperparameters of Deep
Neural Networks. Jie Fu, Hongyin Luo, Jiashi Feng, Kian Hsiang Low, Tat-Seng Chua. IJCAI 2016
(arXiv:1601.00917).

Map from the paper to the code:
- inner training, SGD with momentum v <- g v - (1-g) grad, w <- w + a v  -> hypergrad.train_forward
- the parametrisation w = z * exp(t), one t per input unit, L2 exp(log_l2)|z|^2 -> problem.MLPProblem
- Hessian-vector products by double backward                              -> hypergrad.grad_and_hvp
- exact reverse mode (Maclaurin et al. 2015), stored trajectory           -> hypergrad.exact_hypergrad
- ... with exact-arithmetic reversal instead of storage                   -> hypergrad.reversible_hypergrad
- DrMAD's reverse pass on w(b) = (1-b) w_0 + b w_T                        -> hypergrad.drmad_hypergrad
- meta-update h <- h - 0.07 sign(dL_val/dh), one per training step        -> module.DrMADHyperOpt, SignSGD
"""

from lightning_modules.drmad.data import DrMADDataModule
from lightning_modules.drmad.module import DrMADHyperOpt, SignSGD

__all__ = ["DrMADHyperOpt", "DrMADDataModule", "SignSGD"]
