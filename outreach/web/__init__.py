"""Blueprints: auth (sign in/out), admin (the console), dev (the captured-mail viewer), health,
public (the campaign pages supporters sign on); the JSON API (outreach.api) under /api/v1.

Views are thin: they parse input with a form, call one service, and render. Every blueprint other
than auth, health and public requires a signed-in user; tests walk the URL map to prove it.
"""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    # The dashboard and a delivery's page are routes of the admin blueprint that these modules
    # add when imported, before it is registered: their endpoints stay admin.dashboard and
    # admin.delivery_detail.
    from outreach.web import dashboard as _dashboard  # noqa: F401
    from outreach.web.account import bp as account_bp
    from outreach.web.admin import bp as admin_bp
    from outreach.web.approval_views import bp as approval_bp
    from outreach.web.audit_views import bp as audit_bp
    from outreach.web.audit_views import init_audit
    from outreach.web.auth import bp as auth_bp
    from outreach.web.auth import init_console_guard
    from outreach.web.checks import bp as checks_bp
    from outreach.web.deliveries import bp as deliveries_bp
    from outreach.web.devmail_views import bp as dev_bp
    from outreach.web.directory import bp as directory_bp
    from outreach.web.drive import bp as drive_bp
    from outreach.web.exports import bp as exports_bp
    from outreach.web.health import bp as health_bp
    from outreach.web.imports import bp as imports_bp
    from outreach.web.inbound import bp as inbound_bp
    from outreach.web.public import bp as public_bp

    # Adds the withdrawal route to the public blueprint: imported before it is registered.
    from outreach.web.public_rights import unsubscribe_bp
    from outreach.web.replies import answer_bp as mep_reply_bp
    from outreach.web.replies import bp as replies_bp
    from outreach.web.reports_views import bp as reports_bp
    from outreach.web.signatures import bp as signatures_bp
    from outreach.web.tokens import bp as tokens_bp
    from outreach.web.users import bp as users_bp
    from outreach.web.webhooks import bp as webhooks_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(checks_bp)
    app.register_blueprint(dev_bp)
    app.register_blueprint(drive_bp)
    app.register_blueprint(deliveries_bp)
    app.register_blueprint(exports_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(directory_bp)
    app.register_blueprint(imports_bp)
    app.register_blueprint(signatures_bp)
    app.register_blueprint(tokens_bp)
    app.register_blueprint(webhooks_bp)
    # Accounts: own security page, users and the audit log (admins), four-eyes approvals; the
    # guard (session age, required second factor, default deny) and the audit recorder.
    app.register_blueprint(account_bp)
    app.register_blueprint(users_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(approval_bp)
    init_console_guard(app)
    init_audit(app)
    app.register_blueprint(replies_bp)
    app.register_blueprint(health_bp)
    # Public: the campaign pages supporters sign on (no sign-in; see outreach.web.public).
    app.register_blueprint(public_bp)
    app.register_blueprint(inbound_bp)
    app.register_blueprint(unsubscribe_bp)
    # Public: a supporter's answer to "did your MEP reply?" (a signed link from the mail).
    app.register_blueprint(mep_reply_bp)
    # The JSON API under /api/v1 (token-authenticated, CSRF-exempt; see outreach.api).
    from outreach.api import init_api

    init_api(app)

    from outreach.web.filters import register_filters

    register_filters(app)
