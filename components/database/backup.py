"""Backups of the console and region databases: taken on the replica, so the source that Rainbond
writes to is not loaded, by a systemd timer the replica's backup step installs.

Each run writes a logical dump (`mariadb-dump`/`mysqldump --single-transaction`) with the GTID
position it holds, checks it (gzip, checksum, the dump's last line, the position), copies the
binary logs the replica has closed since (for a restore to any point between two backups), keeps
`keep` dumps no older than `maxAgeDays` (and the newest always), optionally mirrors the directory
to another host with rsync over SSH, and records the result where `rainbond-ha-db-backup status`
prints it. docs/database.md says why a logical dump, and how to restore.
"""

from __future__ import annotations

import pulumi
from pulumi_command import remote

from config import Node
from config.model import DatabaseBackup

from ..shared.remote import Scripts, Steps, program
from . import files

_SCRIPTS = Scripts(__file__, packages=True)
BACKUP = _SCRIPTS("backup")
# The program the timer runs, installed by the backup step.
RUN = _SCRIPTS("backup-run")
RUN_PATH = "/usr/local/sbin/rainbond-ha-db-backup"
UNIT = "rainbond-ha-db-backup"
STATE_DIR = "/var/lib/rainbond-ha/backup"
# The copy target's login: a key from the step's stdin and the pinned host key.
LOGIN_DIR = "/etc/rainbond-ha/backup"

# (dump command, its options that record the position the dump holds, that position's pattern)
_DUMP = {
    "mariadb": ("mariadb-dump", "--master-data=2 --gtid", r"gtid_slave_pos='\([^']*\)'"),
    "mysql": (
        "mysqldump",
        "--source-data=2 --set-gtid-purged=COMMENTED",
        r"GTID_PURGED=[^']*'\([^']*\)'",
    ),
}


def backup_step(
    name: str,
    backup: DatabaseBackup,
    *,
    engine: files.Engine,
    databases: list[str],
    node: Node,
    steps: Steps,
    parent: pulumi.Resource,
    after: list[pulumi.Resource],
) -> remote.Command:
    """The step on `node` (the replica) that installs the timer, the program it runs and the
    copy target's login; it follows the replica role to another node in a switchover."""
    dump, position_options, position_pattern = _DUMP[engine]
    copy = backup.copy_to
    run = program(
        RUN,
        {
            **files.DIALECTS[engine].params(),
            "DUMP": dump,
            "DUMP_POSITION": position_options,
            "POSITION_PATTERN": position_pattern,
            "DATABASES": " ".join(databases),
            "DIRECTORY": backup.directory,
            "KEEP": str(backup.keep),
            "MAX_AGE_DAYS": str(backup.max_age_days),
            "STATE_DIR": STATE_DIR,
            "DATA_DIR": files.DATA_DIR,
            "LOGIN_DIR": LOGIN_DIR,
            "COPY_TARGET": f"{copy.user}@{copy.host}:{copy.path}" if copy else "",
            "COPY_PORT": str(copy.port) if copy else "",
        },
    )
    return steps.step(
        f"{name}-backup",
        node,
        BACKUP,
        parent=parent,
        params={
            "RUN_PATH": RUN_PATH,
            "RUN": run,
            "UNIT": UNIT,
            "SERVICE_TEXT": files.backup_service(RUN_PATH),
            "TIMER_TEXT": files.backup_timer(backup.schedule),
            "SCHEDULE": backup.schedule,
            "DIRECTORY": backup.directory,
            "STATE_DIR": STATE_DIR,
            "LOGIN_DIR": LOGIN_DIR,
            "COPY_HOST_LINE": files.known_host_line(copy.host, copy.port, copy.host_key)
            if copy
            else "",
        },
        # The copy target's key, or an empty line: never in a parameter.
        stdin=pulumi.Output.secret(copy.private_key.get_secret_value() + "\n" if copy else "\n"),
        follows_role=True,
        depends_on=after,
    )
