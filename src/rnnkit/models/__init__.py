"""Task models built from the layers."""
from .classifier import SequenceClassifier
from .language_model import LanguageModel
from .one_to_many import OneToMany
from .seq2seq import Seq2Seq
from .tagger import SequenceTagger, bio_f1
from ..token_rnn import TokenRNN

__all__ = ["LanguageModel", "OneToMany", "Seq2Seq", "SequenceClassifier", "SequenceTagger", "TokenRNN", "bio_f1"]
