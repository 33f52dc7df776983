"""A throwaway PostgreSQL cluster in a folder, for the tests, the benchmarks and ``.ci/run``.

Uses Debian's PostgreSQL 15 (``/usr/lib/postgresql/15/bin``). ``initdb`` refuses to run as
root, so as root the cluster is made and run by the ``postgres`` user. Listens on 127.0.0.1 at
the given port with trust authentication: for tests on one machine, never for production.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

BIN = Path(os.environ.get("LNERE_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))


def _as_owner(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        why = done.stderr.strip() or done.stdout.strip()
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {why}")


class PostgresCluster:
    def __init__(self, folder: Path, port: int, durable: bool = False) -> None:
        self.folder = folder
        self.port = port
        self.data = folder / "data"
        self.durable = durable  # False: fsync off, for throwaway test clusters

    def start(self) -> PostgresCluster:
        if not (BIN / "initdb").exists():
            raise FileNotFoundError(f"PostgreSQL 15 is not installed in {BIN} (apt-get install postgresql)")
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        if not self.data.exists():
            _run(_as_owner([str(BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                            "--auth=trust", "-E", "UTF8", "--no-sync"]))
        _run(_as_owner([
            str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "start",
            "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                  f"{'' if self.durable else '-c fsync=off '}-c max_connections=1000 -c shared_buffers=256MB",
        ]))
        return self

    def stop(self) -> None:
        subprocess.run(_as_owner([str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
                       capture_output=True)

    def create_database(self, name: str) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                                     autocommit=True) as db:
                    db.execute(f'CREATE DATABASE "{name}"')
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
