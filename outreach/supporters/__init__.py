"""Supporters: signatures of a campaign's letter with double opt-in, their review, and what the
letter shows of its co-signers. The services (signing, review, sweep, cosigners) take a session
and plain values and import no Flask; `mail` renders the supporter's e-mails from the templates
in the app context of the worker. The public pages are in outreach.web.public, the mail actor in
workers/supporters.py."""
