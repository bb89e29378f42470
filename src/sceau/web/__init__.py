"""HTTP adapters: public PKI endpoints (CRL, OCSP, CA certificates), later the portal and API."""
