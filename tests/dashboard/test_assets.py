"""The dashboard's static files: vendored libraries match their recorded checksums (see
scripts/vendor-frontend.sh) and everything is served from the package, not a CDN — /docs
(Swagger UI) included."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import httpx

from chronos.server.dashboard.render import HERE
from chronos.server.dashboard.routing import SECURITY_HEADERS

VENDOR = HERE / "static" / "vendor"


def test_vendored_files_match_vendor_json():
    entries = json.loads((VENDOR / "vendor.json").read_text())
    assert {e["package"] for e in entries} == {"htmx.org", "uplot", "swagger-ui-dist"}
    for entry in entries:
        data = (VENDOR / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
        # The npm tarball's checksum, as the registry published it (checked when vendoring).
        assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", entry["integrity"]), entry["file"]
    swagger = {e["file"] for e in entries if e["package"] == "swagger-ui-dist"}
    assert swagger == {"swagger-ui-bundle.js", "swagger-ui.css"}
    htmx = next(e for e in entries if e["package"] == "htmx.org")
    assert htmx["version"].startswith("2.")


def test_templates_load_nothing_from_another_origin():
    for template in (HERE / "templates").glob("*.html"):
        text = template.read_text()
        assert not re.search(r'(src|href)="(https?:)?//', text), template.name


async def test_static_files_are_served(dash: httpx.AsyncClient):
    for path in ["/static/app.js", "/static/app.css", "/static/vendor/htmx.min.js"]:
        response = await dash.get(path)
        assert response.status_code == 200, path
        assert len(response.content) > 1000, path
    assert (await dash.get("/static/../app.py")).status_code == 404


def test_every_page_script_and_style_exists():
    for template in (HERE / "templates").glob("*.html"):
        for ref in re.findall(r'(?:src|href)="/static/([^"?]+)', template.read_text()):
            assert (HERE / "static" / ref).is_file(), f"{template.name} → {ref}"


def test_the_vendor_script_records_what_it_fetches():
    script = Path(__file__).parents[2] / "scripts" / "vendor-frontend.sh"
    text = script.read_text()
    for entry in json.loads((VENDOR / "vendor.json").read_text()):
        assert f"{entry['package']}@{entry['version']}" in text


async def test_docs_load_only_same_origin_assets_under_the_strict_csp(client: httpx.AsyncClient):
    page = await client.get("/docs", headers={"Authorization": ""})  # no key needed
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    assert "<script>" not in page.text  # no inline script: the CSP would block it
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(refs) == 3
    expected_types = {".js": "text/javascript", ".css": "text/css"}
    for ref in refs:
        assert ref.startswith("/docs/assets/") and "//" not in ref, ref
        asset = await client.get(ref)
        assert asset.status_code == 200, ref
        media_type = expected_types[ref[ref.rindex(".") :]]
        assert asset.headers["content-type"].startswith(media_type), ref
    bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.content == (VENDOR / "swagger-ui-bundle.js").read_bytes()
    assert "SwaggerUIBundle" in (await client.get("/docs/assets/swagger-init.js")).text
    assert (await client.get("/docs/assets/htmx.min.js")).status_code == 404  # a fixed list
    assert (await client.get("/docs/assets/..%2Fvendor.json")).status_code == 404
    assert (await client.get("/redoc")).status_code == 404  # it would need a CDN
    assert (await client.get("/openapi.json")).status_code == 200
