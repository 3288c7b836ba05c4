"""A real PostgreSQL server for the fleet tests and the fleet bench: Debian's PostgreSQL 15
binaries, a cluster made by initdb in a temporary directory, on a free loopback port, with
password (SCRAM) authentication. As root, the server runs as `nobody` (PostgreSQL refuses
root). It can be stopped and started again on the same port and data (outage tests)."""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from harness import free_port

PASSWORD = "e2e-pg-pass"


def bin_dir() -> Path:
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    versions = sorted(p / "bin" for p in Path("/usr/lib/postgresql").glob("*")
                      if (p / "bin" / "postgres").exists())
    if not versions:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql: "
                           "install Debian's postgresql-15 (`make setup` does)")
    return versions[-1]


def _as_postgres_user(args):
    """PostgreSQL will not run as root: as root, run it as `nobody`."""
    return ["runuser", "-u", "nobody", "--", *args] if os.geteuid() == 0 else args


class PgServer:
    def __init__(self):
        self.bin = bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="pg-e2e-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.proc = None
        (self.dir / "pwfile").write_text(PASSWORD)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "nobody")
            shutil.chown(self.dir / "pwfile", "nobody")
        out = subprocess.run(
            _as_postgres_user([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                               "--auth-local=trust", "--auth-host=scram-sha-256",
                               f"--pwfile={self.dir / 'pwfile'}", "-E", "UTF8", "--no-sync"]),
            capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{out.stdout}\n{out.stderr}")

    def start(self, timeout=30):
        log = open(self.dir / "postgres.log", "a")
        self.proc = subprocess.Popen(
            _as_postgres_user([str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
                               "-h", "127.0.0.1", "-k", str(self.dir), "-c", "fsync=off",
                               "-c", "max_connections=200"]),
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited\n{self.log()}")
            if self.psql("postgres", "SELECT 1", check=False) == "1":
                return self
            time.sleep(0.1)
        raise RuntimeError(f"postgres not ready after {timeout}s\n{self.log()}")

    def stop(self):
        """A fast shutdown: clients are disconnected, what was committed is kept."""
        if self.proc and self.proc.poll() is None:
            # pg_ctl, not a signal to our child: as root that child is runuser, which does
            # not pass every signal on.
            subprocess.run(_as_postgres_user([str(self.bin / "pg_ctl"), "stop", "-D", str(self.data),
                                              "-m", "fast", "-w", "-t", "30"]),
                           capture_output=True, timeout=60)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self) -> str:
        try:
            return (self.dir / "postgres.log").read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"

    def url(self, database="postgres") -> str:
        return f"postgres://postgres:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def psql(self, database, sql, check=True) -> str:
        out = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                              "-d", self.url(database), "-c", sql],
                             capture_output=True, text=True, timeout=30)
        if check and out.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {out.stderr}")
        return out.stdout.strip()

    def database(self, name) -> str:
        """A fresh database; its URL."""
        self.psql("postgres", f"DROP DATABASE IF EXISTS {name}")
        self.psql("postgres", f"CREATE DATABASE {name}")
        return self.url(name)
