"""Pure X.509 core: names, key policy, CSR intake, profiles, issuance, CRL, OCSP.

No database, no web, no global configuration: everything comes in as arguments.
"""
