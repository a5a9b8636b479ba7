"""Outgoing mail: MIME building and the SMTP transport."""
