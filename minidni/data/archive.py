"""Files read straight out of a downloaded .tar.gz, without extracting it (CIFAR-10, Penn Treebank)."""
import posixpath
import tarfile
import zlib

from ..errors import DataFileError


def read_members(path, folder, names, what):
    """{name: bytes} of the files `names` in a directory ending in `folder` inside the tar.gz at
    `path`, in one pass over the archive. DataFileError if it is not a readable tar.gz, or if it
    lacks one of them (then it is not `what`, the archive expected)."""
    found = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:      # sequential: a gzip stream cannot seek back cheaply
                name = posixpath.basename(member.name)
                if member.isfile() and name in names and posixpath.dirname(member.name).endswith(folder):
                    found[name] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DataFileError(f"{path}: not a readable tar.gz archive ({e}); delete it and download it again") from None
    missing = [n for n in names if n not in found]
    if missing:
        raise DataFileError(f"{path} lacks {', '.join(f'{folder}/{n}' for n in missing)}: not {what}")
    return found
