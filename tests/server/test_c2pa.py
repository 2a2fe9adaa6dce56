"""C2PA end to end: `gesso c2pa-init`, settings, and credentials in the served JPEGs."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from imaging.provenance import read_credentials
from server.media import c2pa_credentials
from server.settings import SettingsError, read_settings
from tests.graphql import GraphQLClient
from tests.images import photo
from tests.services import gesso as _gesso

CREATE = """mutation($i: CreateArtworkInput!) { createArtwork(input: $i) {
  artwork { images { variants { format url } } } errors { code } } }"""


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("c2pa")
    result = _gesso("c2pa-init", cwd=workdir)
    assert result.returncode == 0, result.stderr
    directory = workdir / "data" / "c2pa"
    assert f"GESSO_C2PA_CERT={directory / 'signer.pem'}" in result.stdout
    return directory


def test_c2pa_init_writes_a_ca_and_a_signing_certificate(certificates: Path) -> None:
    # then the keys are private and the certificates are what C2PA validators accept
    assert sorted(p.name for p in certificates.iterdir()) == [
        "ca.key",
        "ca.pem",
        "signer.key",
        "signer.pem",
    ]
    for key in ("ca.key", "signer.key"):
        assert stat.S_IMODE(os.stat(certificates / key).st_mode) == 0o600
    ca = x509.load_pem_x509_certificate((certificates / "ca.pem").read_bytes())
    leaf = x509.load_pem_x509_certificate((certificates / "signer.pem").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.issuer == ca.subject
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    leaf.verify_directly_issued_by(ca)


def test_c2pa_init_does_not_overwrite(certificates: Path) -> None:
    before = (certificates / "ca.key").read_bytes()
    again = _gesso("c2pa-init", "--dir", str(certificates), cwd=certificates)
    assert again.returncode == 2
    assert "exists; pass --force to replace it" in again.stderr
    assert (certificates / "ca.key").read_bytes() == before


def _environ(certificates: Path) -> dict[str, str]:
    return {
        "GESSO_C2PA_CERT": str(certificates / "signer.pem"),
        "GESSO_C2PA_KEY": str(certificates / "signer.key"),
        "GESSO_C2PA_CA": str(certificates / "ca.pem"),
    }


def test_incomplete_or_unreadable_c2pa_settings_are_refused(
    certificates: Path, tmp_path: Path
) -> None:
    environ = _environ(certificates)
    del environ["GESSO_C2PA_KEY"]
    with pytest.raises(SettingsError, match="needs GESSO_C2PA_KEY too"):
        c2pa_credentials(read_settings(environ, env_file=tmp_path / "none"))
    environ["GESSO_C2PA_KEY"] = str(tmp_path / "missing.key")
    with pytest.raises(SettingsError, match=r"GESSO_C2PA_KEY: cannot read .*missing\.key"):
        c2pa_credentials(read_settings(environ, env_file=tmp_path / "none"))
    (tmp_path / "junk.key").write_text("not a key")
    environ["GESSO_C2PA_KEY"] = str(tmp_path / "junk.key")
    with pytest.raises(SettingsError, match="is not a PEM file"):
        c2pa_credentials(read_settings(environ, env_file=tmp_path / "none"))
    environ["GESSO_C2PA_KEY"] = str(certificates / "ca.key")
    with pytest.raises(SettingsError, match="GESSO_C2PA_KEY is not the key of the GESSO_C2PA_CERT"):
        c2pa_credentials(read_settings(environ, env_file=tmp_path / "none"))
    assert c2pa_credentials(read_settings({}, env_file=tmp_path / "none")) is None


@pytest.fixture
async def signing_site(certificates: Path, clean_db: str) -> AsyncIterator[GraphQLClient]:
    async with GraphQLClient.for_app(**_environ(certificates)) as site:
        await site.sign_up("ada")
        yield site


async def test_served_jpegs_carry_trusted_credentials(
    signing_site: GraphQLClient, certificates: Path
) -> None:
    # when an artist uploads an image on a server with C2PA settings
    result = await signing_site.upload(
        CREATE,
        {"i": {"title": "Harbour", "images": [{"file": None}]}},
        {"i.images.0.file": ("h.jpg", photo(320, 256, seed=4), "image/jpeg")},
        as_="ada",
    )
    variants = result.data["createArtwork"]["artwork"]["images"][0]["variants"]
    ca = (certificates / "ca.pem").read_bytes()
    for variant in variants:
        response: httpx.Response = await signing_site.http.get(variant["url"])
        assert response.status_code == 200
        found = read_credentials(response.content, response.headers["content-type"])
        if variant["format"] == "WEBP":
            # then WebP files carry their XMP labels only
            assert found is None
            continue
        # then every served JPEG has a manifest from the platform's CA, refusing training
        trusted = read_credentials(response.content, "image/jpeg", trust_anchors=ca)
        assert trusted is not None
        assert trusted.validation_state == "Trusted"
        assert trusted.assertion("cawg.training-mining") is not None
    assert sorted(v["format"] for v in variants) == ["JPEG"] * 3 + ["WEBP"] * 3
