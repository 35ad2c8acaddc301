"""The FsOps stages as plain functions on real files; the actor only sequences
them and records each one.

Nothing here overwrites: a file reaches its destination under a temporary name
in the destination folder, is fsynced, and is then linked into place, which
fails if anything is already there. A stage run twice finds its own finished
files and leaves them, and removes the temporary files of an earlier attempt.

The stages live by role in `pipeline_model` (what they share), `pipeline_plan`
(destinations, collisions, confinement), `pipeline_extract`, `pipeline_place`
(transfer and what a failure leaves) and `pipeline_finish` (permissions,
cleanup, `.revaer.meta`); this module is the one callers import.
"""

from revaer_actors.pipeline_extract import extract, remove_staging
from revaer_actors.pipeline_finish import (
    cleanup,
    meta_path,
    permissions,
    placed_paths,
    planned_paths,
    write_meta,
)
from revaer_actors.pipeline_model import (
    META_NAME,
    STAGES,
    STAGING_PREFIX,
    TEMP_SUFFIX,
    Op,
    Plan,
    PlanInput,
    StageFailed,
    describe,
)
from revaer_actors.pipeline_place import (
    TransferResult,
    copy_file,
    occupied_destinations,
    remove_empty_folders,
    remove_partial_moves,
    remove_temp_files,
    transfer,
)
from revaer_actors.pipeline_plan import (
    check_folder_confined,
    check_writable,
    plan,
    recheck_confined,
)

__all__ = [
    "META_NAME",
    "STAGES",
    "STAGING_PREFIX",
    "TEMP_SUFFIX",
    "Op",
    "Plan",
    "PlanInput",
    "StageFailed",
    "TransferResult",
    "check_folder_confined",
    "check_writable",
    "cleanup",
    "copy_file",
    "describe",
    "extract",
    "meta_path",
    "occupied_destinations",
    "permissions",
    "placed_paths",
    "plan",
    "planned_paths",
    "recheck_confined",
    "remove_empty_folders",
    "remove_partial_moves",
    "remove_staging",
    "remove_temp_files",
    "transfer",
    "write_meta",
]
