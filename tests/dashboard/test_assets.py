"""The dashboard's static files: vendored libraries match their recorded checksums (see
scripts/vendor-frontend.sh) and everything is served from the package, not a CDN."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import httpx

from chronos.server.dashboard.render import HERE

VENDOR = HERE / "static" / "vendor"


def test_vendored_files_match_vendor_json():
    entries = json.loads((VENDOR / "vendor.json").read_text())
    assert {e["package"] for e in entries} == {"htmx.org", "uplot"}
    for entry in entries:
        data = (VENDOR / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
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
