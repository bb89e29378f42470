"""Builds the object graph (settings → engine, keys, clock) for the web app, worker and CLI."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from sceau.config import Settings
from sceau.pki.clock import Clock, SystemClock
from sceau.pki.signing.keyring import KeyRing, Pkcs11Settings
from sceau.registration.use_cases.certificate_authorities import PublicationSettings
from sceau.storage.database import make_engine, session_factory, upgrade_database
from sceau.storage.unit_of_work import SqlUnitOfWork


@dataclass
class Container:
    """Everything a use case needs; one per process."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.resolved_database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    @cached_property
    def keyring(self) -> KeyRing:
        settings = self.settings
        return KeyRing(
            settings.keys_dir,
            settings.read_ca_passphrase,
            backend=settings.ca_key_backend,
            pkcs11=Pkcs11Settings(
                settings.pkcs11_module, settings.pkcs11_token, settings.read_pkcs11_pin
            ),
        )

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.sessions)

    def publication(self, environment: str) -> PublicationSettings:
        settings = self.settings
        return PublicationSettings(
            base_url=settings.publication_base,
            ocsp_url=settings.effective_ocsp_url,
            ldap_base_url=settings.ldap_base_url,
            policy_oid=settings.policy_oid(environment),
            cps_uri=settings.cps_uri(environment),
            key_size=settings.ca_key_size,
        )

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()


def ensure_home(settings: Settings) -> None:
    """Create the data directory; on TEST defaults, make a random CA passphrase file (0600)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    if settings.read_ca_passphrase() is None and settings.environment == "test":
        secret_file = settings.home / "secrets" / "ca-passphrase"
        secret_file.parent.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))


def prepare_database(settings: Settings) -> None:
    upgrade_database(settings.resolved_database_url)


def build(settings: Settings | None = None, clock: Clock | None = None) -> Container:
    return Container(settings=settings or Settings(), clock=clock or SystemClock())


def data_path(settings: Settings, *parts: str) -> Path:
    return settings.home.joinpath(*parts)
