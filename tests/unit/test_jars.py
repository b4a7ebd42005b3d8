"""The connector's download trusts a proxy's CA on top of the JVM's own (infra/jars.py), with the
real JDK's keytool: only the certificates the JDK lacks are added."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from telecom_billing.errors import TelecomError
from telecom_billing.infra import jars


def keytool(*args: str) -> str:
    tool = Path(shutil.which("java") or "java").resolve().parent / "keytool"
    return subprocess.run([str(tool), "-noprompt", *args], capture_output=True, text=True, check=True).stdout


def entries(store: Path) -> int:
    listing = keytool("-list", "-keystore", str(store), "-storepass", jars.TRUST_STORE_PASSWORD)
    return sum(1 for line in listing.splitlines() if "SHA-256" in line)


def proxy_ca(tmp_path: Path) -> str:
    """A self-signed CA of our own, as a TLS-intercepting proxy has: no JDK trusts it."""
    store = tmp_path / "proxy.p12"
    keytool("-genkeypair", "-alias", "proxy", "-dname", "CN=Test Proxy CA", "-keyalg", "EC", "-validity", "2",
            "-ext", "bc:c", "-keystore", str(store), "-storepass", "secret12")
    return keytool("-exportcert", "-rfc", "-alias", "proxy", "-keystore", str(store), "-storepass", "secret12")


def a_jdk_ca() -> str:
    listing = keytool("-list", "-cacerts", "-storepass", jars.TRUST_STORE_PASSWORD)
    alias = next(line.split(",")[0] for line in listing.splitlines() if "trustedCertEntry" in line)
    return keytool("-exportcert", "-rfc", "-cacerts", "-alias", alias, "-storepass", jars.TRUST_STORE_PASSWORD)


def test_only_the_certificates_the_jdk_lacks_are_added(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(a_jdk_ca() + proxy_ca(tmp_path))
    work = tmp_path / "work"
    work.mkdir()
    options = jars.trust_options(jars.java_path(), bundle, work)
    store = Path(options[0].removeprefix("-Djavax.net.ssl.trustStore="))
    jdk = Path(jars.java_path()).resolve().parents[1] / "lib" / "security" / "cacerts"
    assert entries(store) == entries(jdk) + 1
    assert "CN=Test Proxy CA" in keytool("-list", "-v", "-keystore", str(store), "-storepass",
                                         jars.TRUST_STORE_PASSWORD, "-alias", "extra-1")


def test_an_empty_bundle_changes_nothing_and_a_missing_one_is_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    assert jars.trust_options(jars.java_path(), empty, tmp_path) == []
    with pytest.raises(TelecomError, match="no such CA bundle"):
        jars.trust_options(jars.java_path(), tmp_path / "missing.pem", tmp_path)
