"""Bidirectional backpropagation (Luo, Fu & Glass, arXiv 1702.07097): BP, FA, DFA, BFA and BDFA.

Hongyin Luo, Jie Fu, James Glass. "Bidirectional Backpropagation: Towards Biologically Plausible
Error Signal Transmission in Neural Networks." arXiv:1702.07097, 2017.
"""

from .module import BidirectionalBPModule
from .network import FeedbackNet
from .rules import METHODS

__all__ = ["BidirectionalBPModule", "FeedbackNet", "METHODS"]
