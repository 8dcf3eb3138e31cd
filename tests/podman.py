"""Podman for the container test: is it usable here, the base image, the build, containers, volumes.

No image can be pulled on the development machine or in CI, so the `python:3.11-slim` base the
Dockerfile names is stood in for by a Debian bookworm (debootstrap, minbase) with Python and pip
where the official image has them. Building it takes a minute or more, so the root file system is
kept as a tarball under a cache directory, keyed by a hash of its recipe, and an image that
already carries the name (the stand-in of the same recipe, or the real one) is used as it is.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.server import CONNECTION_ERRORS, REPO_ROOT, Client, free_port

BASE_IMAGE = "docker.io/library/python:3.11-slim"  # what the Dockerfile's FROM resolves to
IMAGE = "localhost/subsvc:container-test"  # kept between runs: its layers are the build cache
STANDIN_LABEL = "subsvc.standin"  # recipe key on a stand-in base; a real image has none
TEST_LABEL = "subsvc.test=container"  # on every container and volume a test makes
CACHE_DIR = Path(os.environ.get("SUBSVC_CONTAINER_CACHE")
                 or Path.home() / ".cache" / "subsvc-container")

DEBIAN_SUITE, DEBIAN_MIRROR = "bookworm", "http://deb.debian.org/debian"
DEBIAN_PACKAGES = ("python3", "python3-pip", "python3-venv", "ca-certificates")
# Inside the new root: make it look like the official image where the Dockerfile relies on it.
# Debian marks its Python "externally managed" (PEP 668); the official image does not, and its
# pip installs into the system. The host's own CAs go in too: where egress passes a TLS proxy
# (as here), pip would otherwise not trust PyPI, while the Dockerfile must stay as it is.
POST_INSTALL = """set -e
ln -sf /usr/bin/python3 /usr/local/bin/python
ln -sf /usr/bin/python3 /usr/local/bin/python3
ln -sf /usr/bin/pip3 /usr/local/bin/pip
ln -sf /usr/bin/pip3 /usr/local/bin/pip3
rm -f /usr/lib/python3*/EXTERNALLY-MANAGED
update-ca-certificates >/dev/null 2>&1
apt-get clean
rm -rf /var/lib/apt/lists/*
"""
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
IMAGE_CHANGES = (  # the official image's config, as far as the Dockerfile relies on it
    "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)

BUILD_TIMEOUT = 1800.0  # a cold base plus a build that downloads every dependency
COMMAND_TIMEOUT = 120.0
READY_DEADLINE = 90.0  # migrations, seeding and gunicorn's boot inside a fresh container
STOP_SECONDS = 10


class PodmanError(AssertionError):
    """A podman command failed; the message carries its output."""


@dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str
    stderr: str


class Podman:
    """The podman command with this machine's settings (runc, cgroupfs, no default ulimits)."""

    def __init__(self, workdir: Path) -> None:
        conf = workdir / "containers.conf"
        # No systemd here, so cgroupfs; the default ulimits cannot be set in this VM.
        engine = ['cgroup_manager = "cgroupfs"', 'events_logger = "file"']
        if shutil.which("runc"):
            engine.append('runtime = "runc"')
        conf.write_text("[containers]\ndefault_ulimits = []\n\n[engine]\n"
                        + "\n".join(engine) + "\n")
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}

    def run(self, *args: str, timeout: float = COMMAND_TIMEOUT, check: bool = True) -> Done:
        proc = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        done = Done(proc.returncode, proc.stdout, proc.stderr)
        if check and done.returncode != 0:
            raise PodmanError(f"podman {' '.join(args[:3])} … exited {done.returncode}:\n"
                              f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        return done

    def image_labels(self, image: str) -> dict[str, str] | None:
        """The labels of a local image; None when there is no such image."""
        if self.run("image", "exists", image, check=False).returncode != 0:
            return None
        raw = self.run("image", "inspect", "--format", "{{json .Labels}}", image).stdout
        return json.loads(raw) or {}


def unavailable_reason(podman: Podman) -> str | None:
    """Why no container can run here, or None when podman works."""
    if shutil.which("podman") is None:
        return "podman is not installed (Debian: apt-get install podman runc debootstrap)"
    try:
        done = podman.run("info", check=False, timeout=60)
    except subprocess.TimeoutExpired:
        return "`podman info` did not answer within 60 s"
    if done.returncode != 0:
        return f"`podman info` fails here: {done.stderr.strip().splitlines()[-1:]}"
    return None


def recipe_key() -> str:
    """Changes whenever anything that goes into the stand-in base changes."""
    recipe = {"suite": DEBIAN_SUITE, "variant": "minbase", "packages": DEBIAN_PACKAGES,
              "post_install": POST_INSTALL, "changes": IMAGE_CHANGES,
              "cas": {ca.name: hashlib.sha256(ca.read_bytes()).hexdigest() for ca in host_cas()}}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def host_cas() -> list[Path]:
    return sorted(HOST_CA_DIR.glob("*.crt")) if HOST_CA_DIR.is_dir() else []


def base_image_unavailable(podman: Podman) -> str | None:
    """Why the base can neither be reused nor built here, or None."""
    labels = podman.image_labels(BASE_IMAGE)
    if labels is not None and labels.get(STANDIN_LABEL) in (None, recipe_key()):
        return None
    if (CACHE_DIR / f"python-standin-{recipe_key()}.tar").exists():
        return None
    if shutil.which("debootstrap") is None:
        return f"no {BASE_IMAGE} image, and debootstrap (to build a stand-in) is not installed"
    if os.geteuid() != 0:
        return f"no {BASE_IMAGE} image, and debootstrap needs root to build a stand-in"
    return None


def ensure_base_image(podman: Podman) -> None:
    """Make BASE_IMAGE exist locally: as it is, else from the cached tarball, else debootstrap."""
    key = recipe_key()
    labels = podman.image_labels(BASE_IMAGE)
    if labels is not None and labels.get(STANDIN_LABEL) in (None, key):
        return
    if labels is not None:  # a stand-in of an older recipe: replace it, leave no dangling image
        podman.run("rmi", BASE_IMAGE, check=False)
    tarball = CACHE_DIR / f"python-standin-{key}.tar"
    if not tarball.exists():
        build_root_tarball(tarball)
    changes = [arg for change in (*IMAGE_CHANGES, f"LABEL {STANDIN_LABEL}={key}")
               for arg in ("--change", change)]
    podman.run("import", *changes, str(tarball), BASE_IMAGE, timeout=600)


def build_root_tarball(tarball: Path) -> None:
    """debootstrap a bookworm with Python into a tarball (written whole or not at all)."""
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tarball.parent, prefix="rootfs-") as tmp:
        root = Path(tmp) / "root"
        run_checked(["debootstrap", "--variant=minbase", f"--include={','.join(DEBIAN_PACKAGES)}",
                     DEBIAN_SUITE, str(root), DEBIAN_MIRROR])
        for ca in host_cas():
            shutil.copy2(ca, root / "usr/local/share/ca-certificates" / ca.name)
        run_checked(["chroot", str(root), "/bin/sh", "-c", POST_INSTALL])
        partial = Path(tmp) / "rootfs.tar"
        run_checked(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."])
        partial.replace(tarball)


def run_checked(command: Sequence[str]) -> None:
    proc = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT,
                          check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{command[0]} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-4000:]}")


def build_image(podman: Podman) -> str:
    """Build the repository's Dockerfile as it is; never pull (the base must be local)."""
    previous = podman.run("image", "inspect", "--format", "{{.Id}}", IMAGE, check=False)
    # Docker format: OCI images have no HEALTHCHECK, and podman would drop it.
    podman.run("build", "--pull=never", "--format", "docker", "--tag", IMAGE,
               "--file", str(REPO_ROOT / "Dockerfile"), str(REPO_ROOT), timeout=BUILD_TIMEOUT)
    current = podman.run("image", "inspect", "--format", "{{.Id}}", IMAGE).stdout.strip()
    old = previous.stdout.strip()
    if previous.returncode == 0 and old != current:
        # The last run's image, now untagged: remove it (its cached layers stay, if shared).
        podman.run("rmi", old, check=False)
    return IMAGE


def unique_name(kind: str) -> str:
    return f"subsvc-test-{kind}-{uuid.uuid4().hex[:10]}"


@contextmanager
def volume(podman: Podman) -> Iterator[str]:
    name = unique_name("data")
    podman.run("volume", "create", "--label", TEST_LABEL, name)
    try:
        yield name
    finally:
        podman.run("volume", "rm", "--force", name, check=False)


class Container(Client):
    """A running container of the image, reached on a port of 127.0.0.1."""

    def __init__(self, podman: Podman, name: str, url: str) -> None:
        super().__init__(url)
        self.podman, self.name = podman, name

    def logs(self) -> str:
        done = self.podman.run("logs", self.name, check=False)
        return done.stdout + done.stderr

    def running(self) -> bool:
        done = self.podman.run("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return done.stdout.strip() == "true"

    def exec(self, *command: str) -> str:
        return self.podman.run("exec", self.name, *command).stdout

    def wait_answering(self, path: str, deadline: float = READY_DEADLINE) -> int:
        """The HTTP status of `path` once the server answers at all (any status)."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            with suppress(*CONNECTION_ERRORS):
                return self.request("GET", path, timeout=5).status
            if not self.running():
                raise AssertionError(f"container {self.name} exited:\n{self.logs()}")
            time.sleep(0.2)
        raise AssertionError(f"{self.url}{path} not answering after {deadline}s:\n{self.logs()}")

    def wait_ready(self, deadline: float = READY_DEADLINE) -> None:
        end = time.monotonic() + deadline
        while (status := self.wait_answering("/readyz", max(end - time.monotonic(), 1))) != 200:
            if time.monotonic() > end:
                raise AssertionError(f"/readyz still answers {status}:\n{self.logs()}")
            time.sleep(0.2)


@contextmanager
def container(podman: Podman, image: str, env: dict[str, str], *, data: str | None = None,
              host_network: bool = False) -> Iterator[Container]:
    """Run `image` detached until the block ends, then remove it (SIGTERM first).

    The port is published on 127.0.0.1 only; with `host_network` (to reach a database on the
    host's loopback) the server itself binds a free port of 127.0.0.1.
    """
    name, port = unique_name("app"), free_port()
    args = ["run", "--detach", "--name", name, "--label", TEST_LABEL]
    if data:
        args += ["--volume", f"{data}:/data"]
    if host_network:
        args += ["--network", "host"]
        env = {**env, "BIND": f"127.0.0.1:{port}"}
    else:
        args += ["--publish", f"127.0.0.1:{port}:8000"]
    for key, value in env.items():
        args += ["--env", f"{key}={value}"]
    podman.run(*args, image)
    try:
        yield Container(podman, name, f"http://127.0.0.1:{port}")
    finally:
        # --volumes: the anonymous /data volume of a container run without one; never a named one.
        podman.run("rm", "--force", "--volumes", "--time", str(STOP_SECONDS), name, check=False,
                   timeout=STOP_SECONDS + 60)
