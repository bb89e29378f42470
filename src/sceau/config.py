"""One typed settings object, read from ``SCEAU_*`` environment variables and validated at start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# domain.md §1–§2: the values IGC-Santé's TEST hierarchy carries.
IGC_BASE_URL = "http://igc-sante.esante.gouv.fr"
IGC_OCSP_URL = "http://ocsp.esante.gouv.fr"
IGC_LDAP_BASE = "ldap://annuaire-igc.esante.gouv.fr"
TEST_POLICY_OID = "1.2.250.1.213.1.7.2.1.1.1.1"


def _default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sceau"


class Settings(BaseSettings):
    """Everything configurable. Secrets are never taken from the command line."""

    model_config = SettingsConfigDict(env_prefix="SCEAU_", extra="ignore")

    home: Path = Field(default_factory=_default_home)
    database_url: str | None = None
    environment: Literal["test", "prod"] = "test"

    # CA key material
    ca_key_backend: Literal["file", "pkcs11"] = "file"
    ca_key_size: int = 4096
    ca_passphrase: SecretStr | None = None
    ca_passphrase_file: Path | None = None
    pkcs11_module: str = "/usr/lib/softhsm/libsofthsm2.so"
    pkcs11_token: str = "sceau"  # noqa: S105  (a token label, not a secret)
    pkcs11_pin: SecretStr | None = None
    pkcs11_pin_file: Path | None = None

    # Publication points carried by certificates (domain.md values as TEST defaults).
    public_url: str | None = None  # when set, CRL/AIA/OCSP URLs point at this sceau server
    igc_base_url: str = IGC_BASE_URL
    ocsp_url: str = IGC_OCSP_URL
    ldap_base_url: str | None = IGC_LDAP_BASE
    policy_oid_test: str = TEST_POLICY_OID
    policy_oid_prod: str | None = None  # not public (domain.md §12): must be configured for PROD
    cps_uri_test: str = f"{IGC_BASE_URL}/PC%20TEST"
    cps_uri_prod: str = f"{IGC_BASE_URL}/PC"

    # Revocation status
    crl_validity_hours: int = 72
    crl_refresh_hours: int = 6
    delta_crl_validity_hours: int = 24
    ocsp_validity_hours: int = 24
    ocsp_refresh_ahead_hours: int = 12
    ocsp_responder_validity_days: int = 90

    # Service
    host: str = "127.0.0.1"
    port: int = 8080
    in_process_worker: bool = True

    # Lifecycle
    renewal_grace_days: int = 0  # renewal after expiry (the real platform: 0, valid only)

    # Mail (notifications). No ``smtp_host``: the embedded mail catcher receives everything.
    smtp_host: str | None = None
    smtp_port: int | None = None  # default: 465 for tls, 587 for starttls, 25 otherwise
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_password_file: Path | None = None
    smtp_timeout_seconds: float = 30.0
    mail_from: str = "sceau <ne-pas-repondre@sceau.localhost>"
    mail_reply_to: str | None = None
    portal_url: str | None = None  # links in mails; default: public_url, else http://host:port
    mail_catcher: bool | None = None  # default: on when smtp_host is not set
    mail_catcher_port: int = 8025
    dev_pages: bool | None = None  # /dev/mails; default: on in the test environment
    outbox_max_attempts: int = 8
    outbox_backoff_seconds: int = 60
    outbox_backoff_max_seconds: int = 6 * 3600
    outbox_lease_seconds: int = 300
    outbox_batch_size: int = 50
    expiry_offsets_days: list[int] = Field(default_factory=lambda: [60, 30, 7, 0])
    expiry_grace_days: int = 7
    digest_threshold: int = 5
    digest_frequency: Literal["daily", "weekly"] = "daily"
    digest_hour_utc: int = 6
    worker_interval_seconds: float = 5.0
    expiry_scan_interval_seconds: float = 3600.0
    revocation_interval_seconds: float = 15.0  # a revocation shows within a minute
    audit_anchor_interval_seconds: float = 300.0  # sign the end of the audit chain

    @property
    def effective_portal_url(self) -> str:
        base = self.portal_url or self.public_url or f"http://{self.host}:{self.port}"
        return base.rstrip("/")

    @property
    def mail_catcher_enabled(self) -> bool:
        return self.smtp_host is None if self.mail_catcher is None else self.mail_catcher

    @property
    def dev_pages_enabled(self) -> bool:
        return self.environment == "test" if self.dev_pages is None else self.dev_pages

    def read_smtp_password(self) -> str | None:
        if self.smtp_password is not None:
            return self.smtp_password.get_secret_value()
        if self.smtp_password_file is not None:
            return self.smtp_password_file.read_text().strip()
        return None

    @field_validator("crl_validity_hours")
    @classmethod
    def _crl_at_most_a_week(cls, value: int) -> int:
        if not 1 <= value <= 7 * 24:
            raise ValueError("CRL nextUpdate must be between 1 hour and 7 days")
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'sceau.db'}"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def publication_base(self) -> str:
        return (self.public_url or self.igc_base_url).rstrip("/")

    @property
    def effective_ocsp_url(self) -> str:
        return f"{self.public_url.rstrip('/')}/ocsp" if self.public_url else self.ocsp_url

    def policy_oid(self, environment: str) -> str:
        if environment == "test":
            return self.policy_oid_test
        if not self.policy_oid_prod:
            raise ValueError(
                "SCEAU_POLICY_OID_PROD is required for a PROD hierarchy "
                "(the production policy OIDs are not public)"
            )
        return self.policy_oid_prod

    def cps_uri(self, environment: str) -> str:
        return self.cps_uri_test if environment == "test" else self.cps_uri_prod

    def read_ca_passphrase(self) -> bytes | None:
        if self.ca_passphrase is not None:
            return self.ca_passphrase.get_secret_value().encode()
        if self.ca_passphrase_file is not None:
            return self.ca_passphrase_file.read_bytes().strip()
        default = self.home / "secrets" / "ca-passphrase"
        if default.exists():
            return default.read_bytes().strip()
        return None

    def read_pkcs11_pin(self) -> str | None:
        if self.pkcs11_pin is not None:
            return self.pkcs11_pin.get_secret_value()
        if self.pkcs11_pin_file is not None:
            return self.pkcs11_pin_file.read_text().strip()
        return None
