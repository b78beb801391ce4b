"""Ed25519 keys and signatures for checkpoints. Keys live in files, never in the database."""

from __future__ import annotations

import base64
from contextlib import suppress
from pathlib import Path

from workflow.errors import InvalidInput


def refuse_existing(path: Path) -> Path:
    """A key pair is written only where neither half exists; returns the public key's path."""
    public_path = path.with_name(path.name + ".pub")
    for target in (path, public_path):
        if target.exists():
            raise InvalidInput(f"{target} already exists; not overwriting a key")
    return public_path


def keygen(path: Path) -> tuple[Path, Path]:
    """Write a private key (PEM, PKCS#8, mode 600) to ``path`` and its public key beside it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public_path = refuse_existing(path)
    if not path.parent.is_dir():
        raise InvalidInput(f"directory {path.parent} does not exist")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        path.touch(mode=0o600)
        path.write_bytes(private)
        public_path.write_bytes(public)
    except OSError as error:
        for target in (path, public_path):  # neither existed before: no half of a pair is left
            with suppress(OSError):
                target.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {error.filename or path}: {error.strerror}") from None
    return path, public_path


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InvalidInput(f"cannot read {what} {path}: {error.strerror}") from None


def sign(message: bytes, key_path: Path) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(_read(key_path, "key file"), password=None)
    except ValueError:
        raise InvalidInput(f"{key_path} is not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"{key_path} is not an Ed25519 private key")
    return base64.b64encode(key.sign(message)).decode()


def verify(message: bytes, signature: str, pubkey_path: Path) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(_read(pubkey_path, "public key"))
    except ValueError:
        raise InvalidInput(f"{pubkey_path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput(f"{pubkey_path} is not an Ed25519 public key")
    try:
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True
