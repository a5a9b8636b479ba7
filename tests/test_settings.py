"""Settings come from OUTREACH_* variables, with safe embedded defaults and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from outreach.settings import Settings, describe_settings


def test_defaults_point_at_the_embedded_parts(tmp_path: Path) -> None:
    """With nothing set: SQLite in the instance folder, the embedded Redis port, the capture server."""
    s = Settings.from_env({"OUTREACH_INSTANCE_PATH": str(tmp_path)})
    assert s.effective_database_url == f"sqlite:///{tmp_path.resolve() / 'outreach.db'}"
    assert s.effective_redis_url == "redis://127.0.0.1:6390/0"
    assert s.effective_smtp_url == "smtp://127.0.0.1:8025"
    assert s.uses_embedded_smtp


def test_variables_are_read_and_typed(tmp_path: Path) -> None:
    """OUTREACH_<NAME> sets a field, converted to the field's type."""
    s = Settings.from_env(
        {
            "OUTREACH_INSTANCE_PATH": str(tmp_path),
            "OUTREACH_DATABASE_URL": "postgresql+psycopg://u@db/outreach",
            "OUTREACH_SEND_BATCH_SIZE": "25",
            "OUTREACH_SMTP_TIMEOUT": "7.5",
        }
    )
    assert s.effective_database_url == "postgresql+psycopg://u@db/outreach"
    assert s.send_batch_size == 25
    assert s.smtp_timeout == 7.5


def test_a_malformed_number_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="OUTREACH_SEND_BATCH_SIZE='many' is not a valid int"):
        Settings.from_env({"OUTREACH_SEND_BATCH_SIZE": "many"})


def test_a_sender_with_a_line_break_is_refused() -> None:
    """Header injection through configuration is refused at start, not at the first send."""
    with pytest.raises(ValueError, match="line breaks"):
        Settings.from_env({"OUTREACH_MAIL_FROM": "a@example.org\r\nBcc: victim@example.org"})


def test_production_refuses_embedded_defaults() -> None:
    """OUTREACH_ENV=production without a database, Redis, relay and key is an error naming them."""
    with pytest.raises(ValueError, match="OUTREACH_SECRET_KEY, OUTREACH_DATABASE_URL"):
        Settings.from_env({"OUTREACH_ENV": "production"})


def test_the_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    """Without OUTREACH_SECRET_KEY a key is written to instance/secret_key (mode 600) and reused."""
    first = Settings.from_env({"OUTREACH_INSTANCE_PATH": str(tmp_path)}).with_secret()
    second = Settings.from_env({"OUTREACH_INSTANCE_PATH": str(tmp_path)}).with_secret()
    assert len(first.secret_key) == 64
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_every_setting_is_described() -> None:
    """README's configuration table is generated from these rows: none may lack a meaning."""
    rows = describe_settings()
    assert len(rows) == len(Settings.__dataclass_fields__)
    assert all(name.startswith("OUTREACH_") and meaning for name, _default, meaning in rows)


def test_readme_configuration_table_matches_the_code() -> None:
    """README's table is the one generated from the settings: docs cannot drift from the code."""
    from pathlib import Path

    from outreach.settings import settings_table_markdown

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert settings_table_markdown() in readme


# Settings that only `make run` uses (the embedded parts and the local ports), or that compose
# sets another way (the instance folder is the image's; the URLs are built from the host names).
NOT_IN_COMPOSE = {
    "OUTREACH_INSTANCE_PATH", "OUTREACH_EMBEDDED_REDIS_PORT", "OUTREACH_DEV_SMTP_PORT",
    "OUTREACH_WEB_PORT", "OUTREACH_INBOUND_HOST", "OUTREACH_INBOUND_PORT",
}  # fmt: skip


def test_compose_passes_every_setting_to_the_containers() -> None:
    """A variable written to .env reaches web and worker only if compose.yaml names it: every
    setting is named there (so none is silently ignored in production)."""
    import yaml

    compose = Path(__file__).resolve().parent.parent / "compose.yaml"
    environment = yaml.safe_load(compose.read_text(encoding="utf-8"))["x-outreach-env"]
    wanted = {name for name, _default, _meaning in describe_settings()} - NOT_IN_COMPOSE
    assert sorted(wanted - set(environment)) == []
