"""PKCS#11 token key backend: the CA private key never leaves the token, the token signs.

The module path is configuration; the token and the key are named by an RFC 7512 URI
(``pkcs11:token=…;object=…``); the user PIN is handed over by the caller (read from an
environment variable or a file upstream, never from a command line).

PKCS#11 login state belongs to the *application*, not to a session: a second ``C_Login`` on a
token fails with "already logged in", and ``C_Logout`` (which python-pkcs11 issues when a
logged-in session is closed) logs every session of the process out. So this module keeps ONE
logged-in read-only session per (module, token) for the life of the process, shared by every
key on that token and reference-counted; the session is closed when the last key is closed.
Operations on the session are serialised by a lock.

PKCS#11 state does not survive ``fork()``: load keys in the process that uses them.
This module imports ``python-pkcs11``; callers import it lazily so the dependency is only
needed when a token is used.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, unquote, unquote_to_bytes

import pkcs11
from cryptography.hazmat.primitives.asymmetric import rsa
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11e

from sceau.pki.errors import KeyBackendError

if TYPE_CHECKING:
    from pkcs11._pkcs11 import lib as Pkcs11Library

SIGN_MECHANISM = Mechanism.SHA256_RSA_PKCS  # RSASSA-PKCS1-v1_5, the token hashes with SHA-256
MIN_KEY_SIZE = 2048

# RFC 7512 §2.3: characters a path attribute value may carry without percent-encoding
# (besides the unreserved ones, which ``quote`` always leaves alone).
_PATH_SAFE = ":[]@!$'()*+,=&"
_PATH_ATTRIBUTES = frozenset(
    {
        "token", "manufacturer", "serial", "model", "library-manufacturer",
        "library-description", "library-version", "object", "type", "id",
        "slot-description", "slot-manufacturer", "slot-id",
    }
)  # fmt: skip
_QUERY_ATTRIBUTES = frozenset({"pin-source", "pin-value", "module-name", "module-path"})
_PIN_ERRORS = (p11e.PinIncorrect, p11e.PinInvalid, p11e.PinLenRange)


# --- RFC 7512 URIs ------------------------------------------------------------------------


def format_pkcs11_uri(
    token_label: str, object_label: str | None, key_id: bytes | None = None
) -> str:
    """``pkcs11:token=<label>;object=<label>[;id=%xx…]`` with RFC 7512 percent-encoding."""
    parts = [f"token={quote(token_label, safe=_PATH_SAFE)}"]
    if object_label:
        parts.append(f"object={quote(object_label, safe=_PATH_SAFE)}")
    if key_id:
        parts.append("id=" + "".join(f"%{byte:02x}" for byte in key_id))
    return "pkcs11:" + ";".join(parts)


def parse_pkcs11_uri(uri: str) -> dict[str, str]:
    """Parse an RFC 7512 PKCS#11 URI into ``{attribute: value}`` (path and query attributes).

    Values are percent-decoded text, except ``id`` which is returned as lowercase hex of the
    decoded bytes. Unknown or repeated attributes are refused, and so is ``pin-value``: a PIN
    never travels inside a URI.
    """
    scheme, sep, rest = uri.partition(":")
    if not sep or scheme.lower() != "pkcs11":
        raise KeyBackendError("pkcs11_uri_invalid", f"{uri!r} is not a pkcs11: URI (RFC 7512)")
    path, _, query = rest.partition("?")
    result: dict[str, str] = {}
    for component, separator, allowed in (
        (path, ";", _PATH_ATTRIBUTES),
        (query, "&", _QUERY_ATTRIBUTES),
    ):
        for item in component.split(separator) if component else []:
            name, eq, raw = item.partition("=")
            name = name.lower()
            if not eq or not name:
                raise KeyBackendError(
                    "pkcs11_uri_invalid",
                    f"PKCS#11 URI attribute {item!r} is not of the form name=value",
                )
            if name not in allowed:
                raise KeyBackendError(
                    "pkcs11_uri_invalid", f"PKCS#11 URI attribute {name!r} is not supported"
                )
            if name in result:
                raise KeyBackendError(
                    "pkcs11_uri_invalid", f"PKCS#11 URI attribute {name!r} is given twice"
                )
            if name == "pin-value":
                raise KeyBackendError(
                    "pkcs11_uri_pin", "a PIN must not be carried in a PKCS#11 URI (pin-value)"
                )
            if name == "id":
                result[name] = unquote_to_bytes(raw).hex()
                continue
            try:
                result[name] = unquote(raw, errors="strict")
            except UnicodeDecodeError as exc:
                raise KeyBackendError(
                    "pkcs11_uri_invalid", f"PKCS#11 URI attribute {name!r} is not valid UTF-8"
                ) from exc
    return result


# --- one logged-in session per (module, token) ------------------------------------------------


def _pin_text(pin: bytes | str) -> str:
    try:
        text = pin.decode("utf-8") if isinstance(pin, bytes) else pin
    except UnicodeDecodeError as exc:
        raise KeyBackendError("pin_invalid", "a PKCS#11 user PIN must be UTF-8 text") from exc
    if not text:
        raise KeyBackendError("pin_missing", "a non-empty PKCS#11 user PIN is required")
    return text


def _load_module(module_path: str) -> Pkcs11Library:
    if not os.path.isfile(module_path):
        raise KeyBackendError(
            "pkcs11_module_not_found", f"PKCS#11 module {module_path} does not exist"
        )
    try:
        return pkcs11.lib(module_path)
    except p11e.PKCS11Error as exc:
        raise KeyBackendError(
            "pkcs11_module_unusable", f"cannot load PKCS#11 module {module_path}: {exc}"
        ) from exc


class _TokenSession:
    """The process's logged-in session on one token, shared by every key that lives there."""

    def __init__(
        self, key: tuple[str, str], token: pkcs11.Token, session: pkcs11.Session, pin: str
    ):
        self.key = key
        self.token = token
        self.session = session
        self.lock = threading.RLock()
        self.users = 0
        self.pid = os.getpid()
        self._salt = secrets.token_bytes(16)
        self._pin_digest = self._digest(pin)

    def _digest(self, pin: str) -> bytes:
        return hashlib.sha256(self._salt + pin.encode("utf-8")).digest()

    def pin_matches(self, pin: str) -> bool:
        return hmac.compare_digest(self._pin_digest, self._digest(pin))


_REGISTRY_LOCK = threading.Lock()
_SESSIONS: dict[tuple[str, str], _TokenSession] = {}


def _check_pid(pid: int) -> None:
    if pid != os.getpid():
        raise KeyBackendError(
            "pkcs11_after_fork",
            "a PKCS#11 session cannot be used after fork(); load the key in the process that signs",
        )


def _acquire(module_path: str, token_label: str, pin: bytes | str) -> _TokenSession:
    text_pin = _pin_text(pin)
    registry_key = (os.path.realpath(module_path), token_label)
    with _REGISTRY_LOCK:
        shared = _SESSIONS.get(registry_key)
        if shared is not None:
            _check_pid(shared.pid)
            if not shared.pin_matches(text_pin):
                raise KeyBackendError(
                    "pin_incorrect",
                    f"wrong user PIN for PKCS#11 token {token_label!r} "
                    "(this process is logged in to it with another PIN)",
                )
            shared.users += 1
            return shared
        library = _load_module(module_path)
        try:
            token = library.get_token(token_label=token_label)
        except p11e.NoSuchToken as exc:
            raise KeyBackendError(
                "token_not_found", f"no PKCS#11 token labelled {token_label!r} in {module_path}"
            ) from exc
        except p11e.MultipleTokensReturned as exc:
            raise KeyBackendError(
                "token_ambiguous", f"several PKCS#11 tokens are labelled {token_label!r}"
            ) from exc
        except p11e.PKCS11Error as exc:
            raise KeyBackendError(
                "token_unusable", f"cannot list the tokens of {module_path}: {exc!r}"
            ) from exc
        try:
            session = token.open(user_pin=text_pin)
        except _PIN_ERRORS as exc:
            raise KeyBackendError(
                "pin_incorrect", f"wrong user PIN for PKCS#11 token {token_label!r}"
            ) from exc
        except p11e.PinLocked as exc:
            raise KeyBackendError(
                "pin_locked", f"the user PIN of PKCS#11 token {token_label!r} is locked"
            ) from exc
        except p11e.UserPinNotInitialized as exc:
            raise KeyBackendError(
                "pin_not_initialized", f"PKCS#11 token {token_label!r} has no user PIN set"
            ) from exc
        except p11e.UserAlreadyLoggedIn as exc:
            raise KeyBackendError(
                "token_already_logged_in",
                f"PKCS#11 token {token_label!r} is already logged in by other code in this process",
            ) from exc
        except p11e.PKCS11Error as exc:
            raise KeyBackendError(
                "token_unusable", f"cannot open PKCS#11 token {token_label!r}: {exc!r}"
            ) from exc
        shared = _TokenSession(registry_key, token, session, text_pin)
        shared.users = 1
        _SESSIONS[registry_key] = shared
        return shared


def _release(shared: _TokenSession) -> None:
    with _REGISTRY_LOCK:
        shared.users -= 1
        if shared.users > 0:
            return
        if _SESSIONS.get(shared.key) is shared:
            del _SESSIONS[shared.key]
        if shared.pid != os.getpid():
            return
        with shared.lock:
            try:
                shared.session.close()  # logs the process out of the token
            except p11e.PKCS11Error as exc:
                raise KeyBackendError(
                    "token_close_failed", f"cannot close the PKCS#11 session: {exc!r}"
                ) from exc


# --- the signing key ------------------------------------------------------------------------


def _public_numbers(obj: pkcs11.Object) -> rsa.RSAPublicNumbers | None:
    try:
        modulus = obj[Attribute.MODULUS]
        exponent = obj[Attribute.PUBLIC_EXPONENT]
    except (p11e.AttributeTypeInvalid, p11e.AttributeSensitive):
        return None
    return rsa.RSAPublicNumbers(int.from_bytes(exponent, "big"), int.from_bytes(modulus, "big"))


class Pkcs11SigningKey:
    """An RSA private key on a PKCS#11 token, found by label and/or id, that signs in place."""

    def __init__(
        self,
        module_path: str,
        token_label: str,
        pin: bytes | str,
        *,
        key_label: str | None = None,
        key_id: bytes | None = None,
    ):
        if not key_label and not key_id:
            raise KeyBackendError(
                "key_not_named", "a PKCS#11 key needs a label or an id to be found"
            )
        self._module_path = module_path
        self._token_label = token_label
        self._shared: _TokenSession | None = _acquire(module_path, token_label, pin)
        try:
            with self._shared.lock:
                self._private, self._public = self._find(self._shared.session, key_label, key_id)
        except BaseException:
            _release(self._shared)
            self._shared = None
            raise
        self._reference = format_pkcs11_uri(token_label, key_label, key_id)

    def _find(
        self, session: pkcs11.Session, label: str | None, key_id: bytes | None
    ) -> tuple[pkcs11.SignMixin, rsa.RSAPublicKey]:
        described = format_pkcs11_uri(self._token_label, label, key_id)
        try:
            private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label, id=key_id)
        except p11e.NoSuchKey as exc:
            raise KeyBackendError(
                "key_not_found", f"no private key {described} on the token"
            ) from exc
        except p11e.MultipleObjectsReturned as exc:
            raise KeyBackendError(
                "key_ambiguous", f"several private keys match {described}; name the key by id too"
            ) from exc
        if private.key_type != KeyType.RSA:
            raise KeyBackendError("key_type", f"{described} is not an RSA key")
        if not private[Attribute.SIGN]:
            raise KeyBackendError(
                "key_cannot_sign", f"{described} does not allow signing (CKA_SIGN)"
            )
        # The token's public key object, found by the private key's id (or label), must agree
        # with the modulus the private key object exposes; either one alone is enough.
        match: dict[Attribute, Any] = {
            Attribute.CLASS: ObjectClass.PUBLIC_KEY,
            Attribute.KEY_TYPE: KeyType.RSA,
        }
        if private.id:
            match[Attribute.ID] = private.id
        else:
            match[Attribute.LABEL] = private.label
        public_objects = list(session.get_objects(match))
        from_public = _public_numbers(public_objects[0]) if len(public_objects) == 1 else None
        from_private = _public_numbers(private)
        if from_public is not None and from_private is not None and from_public != from_private:
            raise KeyBackendError(
                "key_mismatch",
                f"the public key object of {described} does not match its private key",
            )
        numbers = from_public or from_private
        if numbers is None:
            raise KeyBackendError(
                "public_key_not_found", f"no RSA public key found for {described}"
            )
        return cast(pkcs11.SignMixin, private), numbers.public_key()

    @property
    def reference(self) -> str:
        return self._reference

    @property
    def module_path(self) -> str:
        return self._module_path

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    def sign(self, data: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 with SHA-256 over ``data``, computed by the token."""
        shared = self._shared
        if shared is None:
            raise KeyBackendError("key_closed", f"PKCS#11 key {self._reference} was closed")
        _check_pid(shared.pid)
        with shared.lock:
            try:
                return self._private.sign(data, mechanism=SIGN_MECHANISM)
            except p11e.PKCS11Error as exc:
                raise KeyBackendError(
                    "sign_failed", f"PKCS#11 key {self._reference} could not sign: {exc!r}"
                ) from exc

    def close(self) -> None:
        """Give up this key; the token session ends with the last key using it. Idempotent."""
        shared, self._shared = self._shared, None
        if shared is not None:
            _release(shared)

    def __enter__(self) -> Pkcs11SigningKey:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Pkcs11SigningKey({self._reference!r}, module={self._module_path!r})"


def load_pkcs11_key(module_path: str, uri: str, pin: bytes | str) -> Pkcs11SigningKey:
    """Open the key named by ``pkcs11:token=…;object=…[;id=…]`` in ``module_path``."""
    attributes = parse_pkcs11_uri(uri)
    token_label = attributes.get("token")
    if not token_label:
        raise KeyBackendError("pkcs11_uri_invalid", f"PKCS#11 URI {uri!r} does not name a token")
    if attributes.get("type", "private") != "private":
        raise KeyBackendError(
            "pkcs11_uri_invalid", f"PKCS#11 URI {uri!r} must name a private key (type=private)"
        )
    key_id = bytes.fromhex(attributes["id"]) if "id" in attributes else None
    label = attributes.get("object")
    if not label and not key_id:
        raise KeyBackendError(
            "pkcs11_uri_invalid", f"PKCS#11 URI {uri!r} names no key (object= or id=)"
        )
    return Pkcs11SigningKey(module_path, token_label, pin, key_label=label, key_id=key_id)


def generate_pkcs11_key(
    module_path: str, token_label: str, pin: bytes | str, key_label: str, key_size: int = 4096
) -> Pkcs11SigningKey:
    """Generate a sensitive, non-extractable RSA signing key pair on the token.

    Refuses when any object on the token already carries ``key_label``.
    """
    if not key_label:
        raise KeyBackendError("key_label_missing", "a PKCS#11 key needs a non-empty label")
    if key_size < MIN_KEY_SIZE:
        raise KeyBackendError(
            "key_size", f"RSA keys must be at least {MIN_KEY_SIZE} bits, not {key_size}"
        )
    shared = _acquire(module_path, token_label, pin)
    try:
        described = format_pkcs11_uri(token_label, key_label)
        with shared.lock:
            if list(shared.session.get_objects({Attribute.LABEL: key_label})):
                raise KeyBackendError(
                    "key_exists",
                    f"refusing to generate {described}: an object with that label exists",
                )
        key_id = secrets.token_bytes(16)
        try:
            # No PIN: the new session inherits this process's login (a second C_Login would fail),
            # and closing it does not log out.
            with shared.token.open(rw=True) as session:
                _, private = session.generate_keypair(
                    KeyType.RSA,
                    key_size,
                    id=key_id,
                    label=key_label,
                    store=True,
                    capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                    public_template={
                        Attribute.PRIVATE: False,
                        Attribute.ENCRYPT: False,
                        Attribute.WRAP: False,
                    },
                    private_template={
                        Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.DECRYPT: False,
                        Attribute.UNWRAP: False,
                        Attribute.DERIVE: False,
                    },
                )
                if not private[Attribute.SENSITIVE] or private[Attribute.EXTRACTABLE]:
                    private.destroy()
                    raise KeyBackendError(
                        "key_extractable", f"the token made {described} extractable; key destroyed"
                    )
        except p11e.KeySizeRange as exc:
            raise KeyBackendError(
                "key_size", f"PKCS#11 token {token_label!r} cannot make {key_size}-bit RSA keys"
            ) from exc
        except p11e.PKCS11Error as exc:
            raise KeyBackendError(
                "key_generation_failed", f"cannot generate {described}: {exc!r}"
            ) from exc
        # The label is unique on the token (checked above), so it names the key alone.
        return Pkcs11SigningKey(module_path, token_label, pin, key_label=key_label)
    finally:
        _release(shared)
