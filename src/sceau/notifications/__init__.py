"""Notifications: e-mail templates per event, renderer, senders (SMTP, outbox, console)."""
