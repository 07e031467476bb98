"""What the security-enabled node needs at each start: certificates, settings and the security config.

`make opensearch SECURITY=true` and the tests' `secure_node` fixture run OpenSearch 2.19.4
with the security plugin (opensearch-node/pom.xml, profile `secure`), as a domain with
fine-grained access control: TLS on HTTP and transport, an internal admin user, and the
REST API open to `all_access`. Everything here is made fresh in the node's own folder:

- a private CA and the node's certificate, made with `cryptography` (no download, no
  openssl). Python 3.13 verifies strictly, so the CA carries a critical `CA:TRUE` and
  `keyCertSign, cRLSign`, and the node's certificate `IP:127.0.0.1` and an authority key id;
- the admin's password, random, and its bcrypt hash from the plugin's own Hasher;
- config/opensearch-security/: basic auth against the internal users, `admin` mapped to
  `all_access`, nothing mapped to every user (the ZIP's demo maps `own_index` to `*`).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import secrets
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ADMIN_USER = "admin"
PLUGIN = "opensearch-security"
_ORG = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cwl-opensearch-forwarder tests")]


def _name(common: str) -> x509.Name:
    return x509.Name([*_ORG, x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(
    subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    """A CA's certificate where subject is issuer (it signs certificates and CRLs), else a leaf's (it signs
    handshakes); both with the key ids Python 3.13's strict verification asks for."""
    is_ca = subject == issuer
    unused = ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement")
    usage = x509.KeyUsage(
        digital_signature=not is_ca,
        key_cert_sign=is_ca,
        crl_sign=is_ca,
        **dict.fromkeys((*unused, "encipher_only", "decipher_only"), False),
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Any day: `make test-any-day` moves Python's clock, not the JVM's, so no day near either is left out.
        .not_valid_before(datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(usage, critical=True)
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    """PKCS#8, unencrypted: what the security plugin reads."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_certificates(folder: Path) -> str:
    """ca.pem, node.pem and node-key.pem in `folder`; the node certificate's DN, as nodes_dn names it."""
    ca_key, node_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name, node_name = _name("forwarder test CA"), _name("127.0.0.1")
    ca = _certificate(ca_name, ca_key, ca_name, ca_key).sign(ca_key, hashes.SHA256())
    node = (
        _certificate(node_name, node_key, ca_name, ca_key)
        .add_extension(  # transport connections are TLS both ways: the node is server and client
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "node.pem").write_bytes(node.public_bytes(serialization.Encoding.PEM))
    (folder / "node-key.pem").write_bytes(_pem_key(node_key))
    return node_name.rfc4514_string()


def settings(node_dn: str) -> dict[str, str]:
    """The node settings of a domain with fine-grained access control, for the files make_certificates wrote."""
    tls = {"pemcert_filepath": "node.pem", "pemkey_filepath": "node-key.pem", "pemtrustedcas_filepath": "ca.pem"}
    return {
        **{f"plugins.security.ssl.transport.{name}": path for name, path in tls.items()},
        **{f"plugins.security.ssl.http.{name}": path for name, path in tls.items()},
        "plugins.security.ssl.http.enabled": "true",
        "plugins.security.ssl.transport.enforce_hostname_verification": "false",
        "plugins.security.nodes_dn": node_dn,
        "plugins.security.authcz.admin_dn": "CN=nobody,O=cwl-opensearch-forwarder tests",  # no admin certificate
        "plugins.security.allow_default_init_securityindex": "true",  # from config/opensearch-security/ below
        "plugins.security.restapi.roles_enabled": "all_access",
        "plugins.security.audit.type": "noop",  # no audit index to write
        "plugins.security.compliance.salt": secrets.token_hex(8),  # field masking's, 16 characters
    }


def admin_hash(password: str, home: Path, java: str) -> str:
    """The bcrypt hash internal_users.yml takes, from the plugin's own Hasher (no Python bcrypt needed)."""
    classpath = f"{home / 'plugins' / PLUGIN / '*'}:{home.parent / 'lib' / '*'}"
    done = subprocess.run(
        [java, "-cp", classpath, "org.opensearch.security.tools.Hasher", "-p", password],
        capture_output=True,
        text=True,
        timeout=120,
    )
    hashed = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0 or not hashed.startswith("$2"):
        raise RuntimeError(f"the security plugin's Hasher failed ({done.returncode}): {done.stderr[-500:]}")
    return hashed


def write_security_config(config: Path, home: Path, java: str) -> str:
    """config/opensearch-security/ for a fresh security index; the admin's password."""
    password = secrets.token_urlsafe(18) + "!A1"  # the plugin's password rules: mixed case, digit, symbol
    folder = config / "opensearch-security"
    shutil.copytree(home / "plugins" / PLUGIN / "config", folder, dirs_exist_ok=True)
    meta = '_meta:\n  type: "{}"\n  config_version: 2\n'
    (folder / "config.yml").write_text(
        meta.format("config") + "config:\n  dynamic:\n    http:\n      anonymous_auth_enabled: false\n    authc:\n"
        "      basic_internal_auth_domain:\n        http_enabled: true\n        transport_enabled: true\n"
        "        order: 0\n        http_authenticator: {type: basic, challenge: false}\n"
        "        authentication_backend: {type: intern}\n"
    )
    (folder / "internal_users.yml").write_text(
        meta.format("internalusers")
        + f'{ADMIN_USER}:\n  hash: "{admin_hash(password, home, java)}"\n  reserved: true\n'
    )
    (folder / "roles.yml").write_text(meta.format("roles"))
    (folder / "roles_mapping.yml").write_text(
        meta.format("rolesmapping") + f"all_access:\n  reserved: false\n  users: [{ADMIN_USER}]\n"
    )
    return password


def request(node: Any, method: str, path: str, body: bytes | None = None, user: str = ADMIN_USER,
            password: str | None = None) -> tuple[int, str]:  # fmt: skip
    """One HTTPS request to the secure node as `user` (the admin by default), trusting only its CA: (status, body)."""
    secret = node.admin_password if password is None else password
    headers = {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}
    if body is not None:
        headers["Content-Type"] = "application/json"
    sent = urllib.request.Request(node.url + path, data=body, headers=headers, method=method)
    context = ssl.create_default_context(cafile=str(node.ca))
    try:
        with urllib.request.urlopen(sent, context=context, timeout=30) as answer:
            return answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
    except (urllib.error.URLError, ConnectionError) as err:
        return 0, str(err)
