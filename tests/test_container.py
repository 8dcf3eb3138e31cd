"""The container, proven: the repository's Dockerfile built as it is and run with podman.

SQLite on a /data volume, a signed event processed, the state still there after the container
is replaced, a non-root gunicorn as PID 1, the HEALTHCHECK passing; the migrate job and
SUBSVC_MIGRATE=0; and (with TEST_DATABASE_URL) a migrate job plus two containers on one Postgres.
Slow (a cold run builds a Debian base first): `pytest -m container` runs only these. Where podman
cannot run they skip, saying why, unless SUBSVC_REQUIRE_CONTAINER=1 (CI) makes that a failure.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builders import checkout
from tests.conftest import ADMIN_TOKEN, WEBHOOK_SECRET, pg_schema, postgres_only
from tests.podman import (
    BASE_IMAGE,
    Container,
    Podman,
    base_image_unavailable,
    build_image,
    container,
    ensure_base_image,
    unavailable_reason,
    volume,
)
from tests.server import REPO_ROOT, new_customer

pytestmark = pytest.mark.container

ENV = {"STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STATUS_ADMIN_TOKEN": ADMIN_TOKEN}


def skip_or_fail(reason: str) -> None:
    if os.environ.get("SUBSVC_REQUIRE_CONTAINER", "").strip() == "1":
        pytest.fail(f"SUBSVC_REQUIRE_CONTAINER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Podman:
    podman = Podman(tmp_path_factory.mktemp("podman"))
    reason = unavailable_reason(podman) or base_image_unavailable(podman)
    if reason:
        skip_or_fail(reason)
    return podman


@pytest.fixture(scope="module")
def image(podman: Podman) -> str:
    ensure_base_image(podman)
    return build_image(podman)


@pytest.fixture
def data(podman: Podman) -> Iterator[str]:
    with volume(podman) as name:
        yield name


def pid1_uid(box: Container) -> tuple[str, set[int]]:
    """PID 1's name and its real, effective, saved and file-system uids."""
    fields = dict(line.split(":\t", 1) for line in box.exec("cat", "/proc/1/status").splitlines()
                  if ":\t" in line)
    return fields["Name"].strip(), {int(uid) for uid in fields["Uid"].split()}


def test_sqlite_on_a_volume_outlives_the_container(podman: Podman, image: str, data: str) -> None:
    c = new_customer()
    event = checkout(c, at=int(time.time()))
    with container(podman, image, ENV, data=data) as first:
        first.wait_ready()
        assert first.post_event(event).body == {"status": "processed", "event_id": event["id"]}
        name, uids = pid1_uid(first)
        # gunicorn itself is PID 1 (the entrypoint exec'd it, so it gets SIGTERM), not as root.
        assert name == "gunicorn" and len(uids) == 1 and 0 not in uids, (name, uids)
        # The database is on the volume, written by that user.
        owner = first.exec("stat", "-c", "%u", "/data/subsvc.db").strip()
        assert {int(owner)} == uids
        healthcheck = podman.run("healthcheck", "run", first.name, check=False)
        assert healthcheck.returncode == 0, (healthcheck.stdout, healthcheck.stderr, first.logs())

    with container(podman, image, ENV, data=data) as second:
        second.wait_ready()
        status = second.user_status(c.email)
        assert status.status == 200, status
        assert (status.body["tier"], status.body["subscription"]["id"]) == ("pro", c.subscription)
        assert second.post_event(event).body == {"status": "duplicate", "event_id": event["id"]}


def test_the_migrate_job_and_containers_that_skip_migrations(podman: Podman, image: str,
                                                             data: str) -> None:
    skipping = {**ENV, "SUBSVC_MIGRATE": "0"}
    with container(podman, image, skipping, data=data) as unmigrated:
        assert unmigrated.wait_answering("/readyz") == 503
        assert unmigrated.request("GET", "/readyz").body["error"] == "migrations_pending"

    # As in the README's compose file: the job shares the servers' SUBSVC_MIGRATE=0.
    job = podman.run("run", "--rm", "--volume", f"{data}:/data", "--env", "SUBSVC_MIGRATE=0",
                     image, "migrate")
    assert "Tiers added or updated: free, pro, business" in job.stdout, job

    with container(podman, image, skipping, data=data) as serving:
        serving.wait_ready()
        event = checkout(new_customer(), at=int(time.time()))
        assert serving.post_event(event).body["status"] == "processed"


@pytest.mark.postgres
@postgres_only
def test_two_containers_on_one_postgres_after_a_migrate_job(podman: Podman, image: str) -> None:
    """The README's compose set-up, by hand: the host's Postgres, one job, two servers."""
    with pg_schema("container") as url:
        env = {**ENV, "DATABASE_URL": url}
        serving = {**env, "SUBSVC_MIGRATE": "0"}
        podman.run("run", "--rm", "--network", "host", "--env", f"DATABASE_URL={url}",
                   "--env", "SUBSVC_MIGRATE=0", image, "migrate")
        with (container(podman, image, serving, host_network=True) as one,
              container(podman, image, serving, host_network=True) as two):
            one.wait_ready()
            two.wait_ready()
            c = new_customer()
            event = checkout(c, at=int(time.time()))
            assert one.post_event(event).body["status"] == "processed"
            assert two.post_event(event).body["status"] == "duplicate"
            assert two.user_status(c.email).body["tier"] == "pro"
            assert "not migrating" in one.logs() and "not migrating" in two.logs()


def test_the_build_context_leaves_out_secrets_and_local_state(podman: Podman, image: str,
                                                               tmp_path: Path) -> None:
    """.dockerignore: a developer's .env (secrets), venv, git and database never reach a build."""
    probe = tmp_path / "Containerfile"
    probe.write_text(f"FROM {BASE_IMAGE}\nCOPY . /context\n")
    tag = "localhost/subsvc:context-probe"
    podman.run("build", "--pull=never", "--tag", tag, "--file", str(probe), str(REPO_ROOT),
               timeout=600)
    try:
        listed = podman.run("run", "--rm", tag, "ls", "-A", "/context").stdout.split()
    finally:
        podman.run("rmi", "--force", tag, check=False)
    assert "subsvc" in listed and "Dockerfile" in listed, listed
    assert not {".env", ".venv", ".git", "instance", "tests"} & set(listed), listed
