"""Task models built from the layers."""
from .classifier import SequenceClassifier
from .token_rnn import TokenRNN

__all__ = ["SequenceClassifier", "TokenRNN"]
