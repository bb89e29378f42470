"""Background jobs: outbox delivery, expiry scan, CRL refresh, OCSP pre-signing."""
