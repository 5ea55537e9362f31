"""Where downloaded data files live, and how they get there: fetch, verify, never trust.

The cache directory is $MINIDNI_DATA, or ~/.cache/minidni. Each data set has a
subdirectory (mnist/, cifar10/). `fetch` returns the path of a file whose SHA-256
matches the published value, downloading it first if it is absent. A download is
written to a temporary file beside the target and renamed only once its checksum
is right, so an interrupted download never leaves a half file under the real name.

MINIDNI_NO_DOWNLOAD=1 forbids network access: a missing file is then an error that
says where to put it (the tests, and machines without internet, use this).
"""
import hashlib
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

from ..errors import DataFileError

_CHUNK = 1 << 20


def data_dir():
    """The cache directory: $MINIDNI_DATA, or ~/.cache/minidni (made when a file is first fetched).

    Raises DataFileError, naming the variable, if MINIDNI_DATA names something that is not a directory.
    """
    given = os.environ.get("MINIDNI_DATA")
    path = Path(given or Path.home() / ".cache" / "minidni").expanduser()
    if path.exists() and not path.is_dir():
        where = f"MINIDNI_DATA={given}" if given else "the data cache"
        raise DataFileError(f"{where}: {path} is not a directory; set MINIDNI_DATA to a folder for the data sets")
    return path


def downloads_allowed():
    """False when MINIDNI_NO_DOWNLOAD is set to anything but "", "0" or "false"."""
    return os.environ.get("MINIDNI_NO_DOWNLOAD", "").strip().lower() in ("", "0", "false")


def sha256_of(path):
    """The SHA-256 of a file, as 64 lower-case hex digits."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(filename, url, sha256, subdir):
    """The path of `data_dir()/subdir/filename`, downloaded from `url` if absent.

    Raises DataFileError if a present file's SHA-256 differs from `sha256`, if the
    file is absent and downloads are disabled, or if the download fails or arrives
    with the wrong checksum. Each message says how to get the file by hand.
    """
    path = data_dir() / subdir / filename
    by_hand = f"download {url} and place it at {path}"
    if path.exists():
        actual = sha256_of(path)
        if actual != sha256:
            raise DataFileError(f"{filename} at {path} has SHA-256 {actual}, expected {sha256}: the file is "
                                f"corrupt or incomplete; delete it and run again to re-download (or {by_hand})")
        return path
    if not downloads_allowed():
        raise DataFileError(f"{filename} is not at {path} and downloads are disabled (MINIDNI_NO_DOWNLOAD); "
                            f"{by_hand}")
    path.parent.mkdir(parents=True, exist_ok=True)
    _download(filename, url, sha256, path, by_hand)
    return path


def _download(filename, url, sha256, path, by_hand):
    """Stream `url` into a temporary file beside `path`, check it, then rename it into place."""
    print(f"downloading {url} -> {path}", file=sys.stderr)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{filename}.", suffix=".part")
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != sha256:
            raise DataFileError(f"{filename} downloaded from {url} has SHA-256 {h.hexdigest()}, expected {sha256}; "
                                f"the mirror may be serving a different file: {by_hand}")
        os.replace(tmp, path)       # atomic on one file system: the real name only ever holds a checked file
    except OSError as e:            # URLError, timeouts, a full disk: all OSError
        raise DataFileError(f"could not download {filename} from {url} ({e}); {by_hand}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
