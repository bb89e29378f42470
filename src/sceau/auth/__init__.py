"""Authentication: card login (TLS client certificate), OIDC (e-CPS), API tokens → Actor."""
