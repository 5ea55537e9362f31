"""The release's data file is JSON read back exactly, never a pickle."""
import numpy as np
import pytest

from minidni.course import datafile
from minidni.errors import DataFileError
from minidni.trace import Event


def test_arrays_scalars_tuples_and_events_read_back_exactly(tmp_path):
    data = {"relu_backward": [({"x": np.array([[0.1, -2.5e-300], [np.pi, 3.0]]), "n": 3},
                               (np.arange(4, dtype=np.int64).reshape(2, 2), np.float64(1 / 3)),
                               {"dx": [(None, "hint")]})],
            "update_wait": [[Event(2, "update", 1, 0.0, 1.5)]], "empty": np.zeros((0, 3))}
    path = tmp_path / "expected.json"
    datafile.dump(data, path)
    back = datafile.load(path)
    (args, (ints, third), wrongs), = back["relu_backward"]
    assert args["x"].dtype == np.float64 and args["x"].tobytes() == data["relu_backward"][0][0]["x"].tobytes()
    assert ints.dtype == np.int64 and ints.tolist() == [[0, 1], [2, 3]]
    assert type(third) is np.float64 and third == 1 / 3
    assert wrongs == {"dx": [(None, "hint")]} and args["n"] == 3
    assert back["update_wait"] == [[Event(2, "update", 1, 0.0, 1.5)]] and type(back["update_wait"][0][0]) is Event
    assert back["empty"].shape == (0, 3)


def test_a_file_that_is_not_the_data_file_is_refused_by_name(tmp_path):
    path = tmp_path / "expected.json"
    path.write_bytes(b"\x80\x04\x95 a pickle, say")
    with pytest.raises(DataFileError, match="not a minidni course data file"):
        datafile.load(path)


def test_a_type_json_cannot_hold_is_refused_when_written(tmp_path):
    with pytest.raises(TypeError, match="cannot hold a function"):
        datafile.dump({"f": lambda: 0}, tmp_path / "x.json")
