"""A model file as rnnkit wrote it before a hyperparameter existed, shared by the
tests that check such files still load."""
from rnnkit.io import read_file, write_file


def saved_without(est, path, param):
    """``est`` written to ``path`` as a ``sequence-estimator`` file without the
    hyperparameter ``param`` (as an rnnkit from before it wrote them); returns ``path``."""
    config, arrays = est._file_contents()
    del config["params"][param]
    write_file(path, "sequence-estimator", config, arrays)
    assert param not in read_file(path)[0]["config"]["params"]
    return path
