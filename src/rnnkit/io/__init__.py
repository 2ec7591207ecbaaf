"""Files: the one rnnkit file format for models and checkpoints."""
from .files import FORMAT_VERSION, ModelFileError, read_file, write_file
from .models import load, load_weights, register, save

__all__ = ["FORMAT_VERSION", "ModelFileError", "read_file", "write_file", "save", "load", "load_weights",
           "register"]
