"""Gateway tests need no SCIM target: ``emulator_seed`` is the standard org with a placeholder SCIM URL, so
no scim2-server is started. Helpers are in ``gateway_helpers``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from oktasync.emulator.testing import standard_seed


@pytest.fixture
def emulator_seed() -> dict[str, Any]:
    return standard_seed(scim_base_url="https://scim.example.test/scim/v2")


@pytest.fixture
def key_file(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """An OAuth service app's private key on disk (PKCS#8 PEM) and its public JWK (kid ``k1``)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "service-app.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public_jwk["kid"] = "k1"
    return path, public_jwk
