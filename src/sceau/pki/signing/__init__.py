"""CA key backends: a file key and a PKCS#11 token key are interchangeable behind ``SigningKey``."""

from sceau.pki.signing.base import SigningKey, throwaway_key
from sceau.pki.signing.file import FileSigningKey, generate_file_key, load_file_key

__all__ = ["FileSigningKey", "SigningKey", "generate_file_key", "load_file_key", "throwaway_key"]
