"""Self-signed certificates made by openssl, for the tests' own TLS servers."""

import subprocess
from pathlib import Path


def self_signed_certificate(
    folder: Path, name: str, ip: str | None = "127.0.0.1"
) -> tuple[Path, Path]:
    """A certificate and its key in ``folder``, for the host ``name`` (and ``ip``), valid
    for two days."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    names = f"DNS:{name}" + (f",IP:{ip}" if ip else "")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", f"/CN={name}", "-addext", f"subjectAltName={names}",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key
