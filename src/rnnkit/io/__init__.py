"""Files: the one rnnkit file format for models and checkpoints."""
from .files import FORMAT_VERSION, ModelFileError, read_file, write_file

__all__ = ["FORMAT_VERSION", "ModelFileError", "read_file", "write_file"]
