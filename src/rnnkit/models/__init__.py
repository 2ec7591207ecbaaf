"""Task models built from the layers."""
from .token_rnn import TokenRNN

__all__ = ["TokenRNN"]
