"""Data: vocabularies, and (in sibling modules) readers, windows, padding."""
from .vocab import Vocabulary

__all__ = ["Vocabulary"]
