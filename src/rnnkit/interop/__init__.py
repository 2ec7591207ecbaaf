"""Interoperability with other frameworks.  Nothing here imports a framework
until a function that needs it is called."""
from .torch import from_torch, to_torch

__all__ = ["from_torch", "to_torch"]
