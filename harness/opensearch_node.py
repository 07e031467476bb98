"""A real OpenSearch 2.19 node on loopback, for the tests, `make demo` and `make opensearch`.

opensearch-node/pom.xml builds it from Maven Central only (the server, its modules, the
job-scheduler plugin ZIP); opensearch-node/src/.../LocalOpenSearch.java runs it. This module
builds it when its sources changed, starts it with its data and logs in a temporary folder
outside the repository, waits for the `OPENSEARCH_URL=` line the launcher prints once the
cluster is yellow or green, and stops it: the launcher also exits when our end of its stdin
closes, so even a test run that is killed leaves no node behind. Logs are copied to
build/opensearch-logs/ when asked (a failed start, a failed test).

`python -m harness.opensearch_node` (`make opensearch`) runs one until SIGINT or SIGTERM.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness import secure_node

REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "opensearch-node"
TARGET = PROJECT / "target"
SECURE_TARGET = PROJECT / "target-secure"  # `mvn -Psecure`: 2.19.4 with the security plugin (harness/secure_node.py)
KEPT_LOGS = REPO / "build" / "opensearch-logs"
LAUNCHER = "forwarder.localnode.LocalOpenSearch"
URL_LINE = "OPENSEARCH_URL="
# Ranges, not one port: the node takes the first free one, the same one on every quiet machine.
HTTP_PORTS = "9250-9299"
TRANSPORT_PORTS = "9350-9399"
HEAP = "512m"
# Why the node has job-scheduler but no ISM (checked 2026-12-02; see pom.xml).
ISM_MISSING = (
    "no ISM plugin in this node: Maven Central has no org.opensearch.plugin:opensearch-index-management "
    "ZIP for any 2.x (its job-scheduler is there), so the bootstrap's ISM calls are tested on the stand-in"
)
JAVA_VERSIONS = range(11, 22)  # what OpenSearch 2.19 runs on; Java 17 is the one this repository uses


class NodeError(RuntimeError):
    """The node could not be built or started; the message says where its output is."""


def java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def unavailable() -> str | None:
    """Why no real node can run here (no Java, no Maven, a Java it does not run on), or None."""
    command = java()
    if not command:
        return "no java on PATH or in JAVA_HOME (OpenSearch 2.19 runs on Java 17)"
    if not shutil.which("mvn"):
        return "no mvn on PATH (Maven builds the node from Maven Central)"
    version = _java_version(command)
    if version not in JAVA_VERSIONS:
        return f"{command} is Java {version}; OpenSearch 2.19 runs on Java 11-21 (set JAVA_HOME to a Java 17)"
    return None


def _java_version(command: str) -> int | None:
    shown = subprocess.run(
        [command, "-XshowSettings:properties", "-version"], capture_output=True, text=True, timeout=60
    ).stderr
    for line in shown.splitlines():
        name, _, value = line.strip().partition(" = ")
        if name == "java.specification.version":
            return int(value.removeprefix("1."))
    return None


def build(secure: bool = False) -> Path:
    """`mvn package` in opensearch-node/ (`-Psecure` for the security-enabled node), unless nothing changed
    since the last build; the target folder."""
    target = SECURE_TARGET if secure else TARGET
    built = target / ".built"
    sources = [PROJECT / "pom.xml", *(p for p in (PROJECT / "config").rglob("*") if p.is_file())]
    sources += [p for p in (PROJECT / "src").rglob("*") if p.is_file()]
    if built.exists() and built.stat().st_mtime >= max(p.stat().st_mtime for p in sources):
        return target
    shutil.rmtree(target, ignore_errors=True)  # a changed pom must not leave old jars in target/lib
    done = subprocess.run(
        ["mvn", "-q", "-B", "-f", str(PROJECT / "pom.xml"), *(["-Psecure"] if secure else []), "package"],
        capture_output=True,
        text=True,
        env={**os.environ, **_java_env()},
    )
    if done.returncode != 0:
        raise NodeError(f"mvn package in {PROJECT} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}")
    for plugin in (target / "home" / "plugins").iterdir():
        _drop_classpath_copies(plugin, target / "lib")
    built.touch()
    return target


def _drop_classpath_copies(plugin: Path, lib: Path) -> None:
    """A plugin ZIP's own copies of jars the node has on its classpath (netty, the modules): OpenSearch
    refuses to start with a class twice ("jar hell"), and the plugin sees the classpath's."""
    on_classpath = {_artifact(jar.name) for jar in lib.glob("*.jar")}
    for jar in plugin.glob("*.jar"):
        if _artifact(jar.name) in on_classpath:
            jar.unlink()


def _artifact(jar: str) -> str:
    """netty-codec-http-4.1.125.Final.jar -> netty-codec-http"""
    return re.sub(r"-\d[^-]*(\.Final)?(-[A-Za-z0-9.]+)?\.jar$", "", jar)


def _java_env() -> dict[str, str]:
    command = java()
    return {"JAVA_HOME": str(Path(command).resolve().parents[1])} if command else {}


class LocalNode:
    """One node: start() returns its URL, stop() ends it and removes its data."""

    def __init__(
        self,
        heap: str = HEAP,
        http_ports: str = HTTP_PORTS,
        transport_ports: str = TRANSPORT_PORTS,
        settings: dict[str, str] | None = None,
        secure: bool = False,
    ) -> None:
        self.heap = heap
        self.settings = settings or {}  # node settings, each passed as -E key=value
        self.secure = secure  # TLS and the security plugin, as a domain with fine-grained access control
        self.ca = Path()  # secure: the PEM of the CA that signed the node's certificate
        self.admin_password = ""  # secure: the internal user `admin`'s
        self.http_ports = http_ports
        self.transport_ports = transport_ports
        self.url = ""
        self.workdir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.started_in = 0.0  # seconds from the JVM's start to the URL line

    @property
    def logs(self) -> Path:
        assert self.workdir, "start() first"
        return self.workdir / "logs"

    def start(self, timeout: float = 180.0) -> str:
        target = build(self.secure)
        command = java()
        assert command, unavailable()
        self.workdir = Path(tempfile.mkdtemp(prefix="opensearch-node-"))
        self.logs.mkdir()
        config = target / "home" / "config"
        settings = dict(self.settings)
        if self.secure:
            config = self.workdir / "config"
            shutil.copytree(target / "home" / "config", config)
            settings = secure_node.settings(secure_node.make_certificates(config)) | settings
            self.admin_password = secure_node.write_security_config(config, target / "home", command)
            self.ca = config / "ca.pem"
        began = time.monotonic()
        with open(self.logs / "stderr.log", "wb") as stderr:
            self.process = subprocess.Popen(
                [
                    command,
                    f"-Xms{self.heap}",
                    f"-Xmx{self.heap}",
                    "-cp",
                    f"{target / 'classes'}{os.pathsep}{target / 'lib' / '*'}",
                    LAUNCHER,
                    "--home",
                    str(target / "home"),
                    "--config",
                    str(config),
                    "--data",
                    str(self.workdir / "data"),
                    "--logs",
                    str(self.logs),
                    "--http-port",
                    self.http_ports,
                    "--transport-port",
                    self.transport_ports,
                    "--exit-on-stdin-eof",
                    "--orphan-removes",
                    str(self.workdir),
                    *(part for key, value in settings.items() for part in ("-E", f"{key}={value}")),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,  # a Ctrl-C in the terminal is ours to pass on, once
            )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_read_lines, args=(self.process, lines), daemon=True).start()
        while True:
            try:
                line = lines.get(timeout=max(0.0, began + timeout - time.monotonic()))
            except queue.Empty:
                line = None
            if line is not None and line.startswith(URL_LINE):
                self.url = line.removeprefix(URL_LINE)
                if self.secure:
                    self._wait_for_admin(began + timeout)
                self.started_in = time.monotonic() - began
                return self.url
            if line is None or line == "":  # timed out, or the process ended
                kept = self.stop(keep_logs=True)
                ended = "did not print its URL" if line is None else "exited"
                raise NodeError(f"the OpenSearch node {ended} within {timeout:.0f} s; its logs: {kept}")

    def _wait_for_admin(self, until: float) -> None:
        """For a moment after HTTP is up the node answers "OpenSearch Security not initialized": the URL
        is given once the admin can log in."""
        answer = ""
        while time.monotonic() < until:
            status, answer = secure_node.request(self, "GET", "/_plugins/_security/authinfo")
            if status == 200:
                return
            time.sleep(0.5)
        kept = self.stop(keep_logs=True)
        raise NodeError(f"the secure node's admin could not log in ({answer[:200]}); its logs: {kept}")

    def resident_bytes(self, peak: bool = False) -> int:
        """The JVM's resident memory now (VmRSS), or its peak so far (VmHWM)."""
        assert self.process
        name = "VmHWM:" if peak else "VmRSS:"
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self, keep_logs: bool = False) -> Path | None:
        """Stop the node (SIGTERM, then SIGKILL after 30 s) and remove its data; the logs' copy if kept."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process and self.process.stdin:
            self.process.stdin.close()
        kept = None
        if self.workdir:
            if keep_logs and self.logs.exists():
                kept = KEPT_LOGS / time.strftime("%Y%m%dT%H%M%S")
                shutil.copytree(self.logs, kept, dirs_exist_ok=True)
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        return kept

    def __enter__(self) -> LocalNode:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(keep_logs=exc[0] is not None)


def _read_lines(process: subprocess.Popen[bytes], lines: queue.Queue[str]) -> None:
    assert process.stdout
    for raw in process.stdout:
        lines.put(raw.decode(errors="replace").strip())
    lines.put("")  # end of output: the process is gone


def _put_template(url: str) -> str:
    """The index template for INDEX_PREFIX (default mydata), as the stack's bootstrap and `make demo` put it."""
    from forwarder.budget import Deadline
    from forwarder.delivery.sink import OpenSearchSink
    from forwarder.infra.bootstrap import Bootstrap, Config
    from forwarder.settings import Settings

    settings = Settings.from_env({**os.environ, "OPENSEARCH_ENDPOINT": url, "AWS_REGION": "us-east-1"})
    config = Config(settings.index_prefix, retention_days=30, retain_on_delete=False)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "AKIDLOCALNODE")  # signed, though this node reads no signature
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local-node")
    Bootstrap(OpenSearchSink(settings), Deadline(30)).put_template(config)
    return (
        f"index template {config.template_name} put for {config.pattern} (INDEX_PREFIX), as the stack's bootstrap does"
    )


def main(args: list[str]) -> int:
    """`make opensearch [SECURITY=true]`: a node until SIGINT or SIGTERM."""
    reason = unavailable()
    if reason:
        print(f"make opensearch: {reason}", file=sys.stderr)
        return 1
    print("make opensearch: building (the first time fetches ~80 MB from Maven Central), starting", file=sys.stderr)
    node = LocalNode(secure="--secure" in args)
    stop = threading.Event()
    for name in (signal.SIGINT, signal.SIGTERM):
        signal.signal(name, lambda *_: stop.set())
    try:
        url = node.start()
        print(f"{URL_LINE}{url}", flush=True)
        if node.secure:
            print(f"OPENSEARCH_CA={node.ca}\nOPENSEARCH_ADMIN_USER={secure_node.ADMIN_USER}", flush=True)
            print(f"OPENSEARCH_ADMIN_PASSWORD={node.admin_password}", flush=True)
        else:
            print(f"make opensearch: {_put_template(url)}", file=sys.stderr)
        print(
            f"make opensearch: OpenSearch {'2.19.4 with the security plugin' if node.secure else '2.19'} "
            f"up in {node.started_in:.1f} s, "
            f"{node.resident_bytes() / 2**20:.0f} MiB resident; logs in {node.logs}; Ctrl-C stops it",
            file=sys.stderr,
        )
        while not stop.wait(0.5):
            if node.process and node.process.poll() is not None:
                kept = node.stop(keep_logs=True)
                print(f"make opensearch: the node exited by itself; its logs: {kept}", file=sys.stderr)
                return 1
    except NodeError as err:
        print(f"make opensearch: {err}", file=sys.stderr)
        return 1
    finally:
        node.stop()
    print("make opensearch: stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
