"""Paper 1: Fu, Ng, Chen, Ilievski, Pal, Chua, "Neural Optimizers with Hypergradients for Tuning
Parameter-Wise Learning Rates", ICML 2017 AutoML workshop.

Map from the method to the code (details in README.md):
  optimizee (MLP on one flat parameter vector) ........ optimizee.py
  Adam with per-parameter lr, SGD, RMSprop, Adam-HD ... optimizers.py
  hypergradient windows + LSTM controller + meta-training by the chain rule ... controller.py
  learning-to-learn baseline (Andrychowicz et al. 2016) . l2l.py
  one optimizee run with windowed logging ............. runner.py
  LightningModule (phase=meta_train | evaluate) ....... module.py
"""

from lightning_modules.neural_optimizer.controller import LRController, NeuralAdam
from lightning_modules.neural_optimizer.l2l import L2LOptimizer
from lightning_modules.neural_optimizer.module import NeuralOptimizerModule
from lightning_modules.neural_optimizer.optimizers import SGD, Adam, AdamHD, RMSprop

__all__ = ["NeuralOptimizerModule", "NeuralAdam", "LRController", "L2LOptimizer", "SGD", "RMSprop", "Adam", "AdamHD"]
