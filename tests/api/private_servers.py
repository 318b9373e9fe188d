"""PostgreSQL and Redis servers owned by one test, so that it may stop and start them without
disturbing tests running beside it. PostgreSQL refuses root: as root it runs as `postgres`."""
import glob
import os
import shutil
import subprocess
import tempfile
import time

from cartd_api import free_port


def _pg_bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not installed")
    return found[-1]


class PrivatePostgres:
    def __init__(self):
        self.bin = _pg_bin()
        self.dir = tempfile.mkdtemp(prefix="cartd-pg-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        os.mkdir(self.data)
        if os.getuid() == 0:
            shutil.chown(self.data, "postgres")
        self.port = free_port()
        self._pg("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        subprocess.run(["psql", self.url("postgres"), "-qc", "CREATE DATABASE cartd"], check=True, capture_output=True)

    def _pg(self, tool, *args):
        cmd = [os.path.join(self.bin, tool), *args]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def url(self, db="cartd"):
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, db)

    def start(self):
        self._pg("pg_ctl", "-D", self.data, "-l", os.path.join(self.data, "server.log"), "-w", "-t", "60",
                 "-o", "-p %d -k %s -c listen_addresses=127.0.0.1" % (self.port, self.data), "start")

    def stop(self):
        self._pg("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def destroy(self):
        try:
            self._pg("pg_ctl", "-D", self.data, "-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="cartd-redis-")
        self.port = free_port()
        self.proc = None
        self.start()

    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            if subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout.strip() == b"PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis did not start")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True).stdout

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
