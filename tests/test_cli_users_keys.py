from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from subsvc.accounts.api_keys import KEY_PREFIX
from tests.builders import rotate_key, user_row


def me(client: FlaskClient, key: str) -> int:
    return client.get("/status/api/me", headers={"Authorization": f"Bearer {key}"}).status_code


# --- users ------------------------------------------------------------------------


def test_create_stores_a_lower_cased_email_and_the_external_id(app: Flask,
                                                               runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["users", "create", "Ada@Example.com", "--external-id", "user_42"])
    assert result.exit_code == 0
    assert result.output.strip() == "Created user ada@example.com (user_42)"
    created = user_row(app, "ada@example.com")
    assert (created.external_id, created.api_key_hash) == ("user_42", None)


@pytest.mark.parametrize("args, message", [
    (["ADA@example.com"], "a user with that email or external id exists"),
    (["other@example.com", "--external-id", "user_42"],
     "a user with that email or external id exists"),
    (["not-an-email"], "not an email address: not-an-email"),
])
def test_create_refuses_duplicates_and_non_emails(runner: FlaskCliRunner, args: list[str],
                                                  message: str) -> None:
    first = runner.invoke(args=["users", "create", "ada@example.com", "--external-id", "user_42"])
    assert first.exit_code == 0
    result = runner.invoke(args=["users", "create", *args])
    assert result.exit_code == 1
    assert message in result.output


def test_show_prints_the_status_of_a_user_without_subscription(runner: FlaskCliRunner) -> None:
    runner.invoke(args=["users", "create", "ada@example.com"])
    result = runner.invoke(args=["users", "show", "ADA@example.com"])
    assert result.exit_code == 0
    assert [line.split(":", 1)[0] for line in result.output.splitlines()] == [
        "email", "external id", "tier", "subscription", "api key"]
    assert "tier:         free (not entitled)" in result.output


def test_show_json_is_the_status_api_answer(app: Flask, client: FlaskClient,
                                            runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["seed", "demo"]).exit_code == 0
    result = runner.invoke(args=["users", "show", "grace@example.com", "--json"])
    assert result.exit_code == 0
    shown = json.loads(result.output)
    key = rotate_key(runner, "grace@example.com")
    assert client.get("/status/api/me", headers={"Authorization": f"Bearer {key}"}).get_json() == {
        **shown, "api_key_prefix": key[:len(shown["api_key_prefix"])]}
    assert shown["tier"] == "business" and shown["subscription"]["status"] == "past_due"


@pytest.mark.parametrize("command", [["users", "show"], ["keys", "rotate"], ["keys", "revoke"]])
def test_commands_about_an_unknown_user_fail(runner: FlaskCliRunner, command: list[str]) -> None:
    result = runner.invoke(args=[*command, "nobody@example.com"])
    assert result.exit_code == 1
    assert "no user with email nobody@example.com" in result.output


# --- keys -------------------------------------------------------------------------


def test_rotate_prints_a_working_key_alone_on_the_last_line(app: Flask, client: FlaskClient,
                                                            runner: FlaskCliRunner) -> None:
    runner.invoke(args=["users", "create", "ada@example.com"])
    key = rotate_key(runner, "ada@example.com")
    assert key.startswith(KEY_PREFIX) and " " not in key
    assert me(client, key) == 200
    stored = user_row(app, "ada@example.com")
    assert key not in (stored.api_key_hash, stored.api_key_prefix)
    assert key.startswith(stored.api_key_prefix or "-")
    assert stored.api_key_revealed_at is not None


def test_rotate_invalidates_the_old_key(client: FlaskClient, runner: FlaskCliRunner) -> None:
    runner.invoke(args=["users", "create", "ada@example.com"])
    old = rotate_key(runner, "ada@example.com")
    new = rotate_key(runner, "ada@example.com")
    assert old != new
    assert (me(client, old), me(client, new)) == (401, 200)


def test_revoke_removes_the_key(app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    runner.invoke(args=["users", "create", "ada@example.com"])
    key = rotate_key(runner, "ada@example.com")
    result = runner.invoke(args=["keys", "revoke", "ada@example.com"])
    assert result.exit_code == 0
    assert result.output.strip() == "Revoked the API key of ada@example.com."
    assert me(client, key) == 401
    revoked = user_row(app, "ada@example.com")
    assert (revoked.api_key_hash, revoked.api_key_prefix) == (None, None)
