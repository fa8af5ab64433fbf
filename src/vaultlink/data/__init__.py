"""vaultlink.data — the backup engine (pure over the ``BlobStore`` port).

Public API (everything else is internal)::

    Repository.init(store, passphrase, *, log_n=15, pack_size=8 MiB, chunker_params=None,
                    zstd_level=2, index=None) -> Repository      # PassphraseTooShort, AlreadyExists
    Repository.open(store, passphrase, *, load_index=True, index=None, ...) -> Repository
                                                                  # WrongPassphrase, NotFound
    repo.list_manifests() -> list[str]; repo.load_manifest(name) -> Manifest; repo.close()

    backup(paths, repo, previous_manifest=None, progress=None, *, workers=None, hostname=None,
           tags=None, parent=None) -> BackupResult(manifest, name, stats: BackupStats)
    restore(manifest, repo, target, include=None, progress=None, *, workers=None) -> RestoreStats
                          # include: patterns, or Pick(include=..., exclude=...) (data/restore_plan.py)
                                                                  # UnsafePath, CorruptData(files=[...])
    check(repo, read_data=False, progress=None) -> CheckReport(ok, errors, damaged_files, ...)

    ChunkIndex (Protocol: have/add/lookup/packs) and MemoryChunkIndex: the dedup index; the
    service implements ChunkIndex over SQL and passes it as ``index=``.
    Keys, create_key_file(passphrase) -> (bytes, Keys), open_key_file(bytes, passphrase) -> Keys,
    change_passphrase(bytes, old, new) -> bytes.
    Progress(files_total, bytes_total, files_done, bytes_done, bytes_new, elapsed, rate, eta).

Errors (vaultlink.errors): PassphraseTooShort, WrongPassphrase, UnsafePath, CorruptData.
"""

from vaultlink.data.backup import BackupResult, BackupStats, Progress, backup
from vaultlink.data.check import CheckReport, check
from vaultlink.data.chunker import Chunker, ChunkerParams
from vaultlink.data.crypto import Keys, change_passphrase, create_key_file, open_key_file
from vaultlink.data.manifest import Manifest, Node
from vaultlink.data.repository import ChunkIndex, Location, MemoryChunkIndex, Repository
from vaultlink.data.restore import RestoreStats, restore
from vaultlink.data.restore_plan import Pick

__all__ = [
    "BackupResult",
    "BackupStats",
    "CheckReport",
    "ChunkIndex",
    "Chunker",
    "ChunkerParams",
    "Keys",
    "Location",
    "Manifest",
    "MemoryChunkIndex",
    "Node",
    "Pick",
    "Progress",
    "Repository",
    "RestoreStats",
    "backup",
    "change_passphrase",
    "check",
    "create_key_file",
    "open_key_file",
    "restore",
]
