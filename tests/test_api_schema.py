"""The OpenAPI schema is valid and describes every endpoint; its docs page works offline and
under a CSP that allows only scripts from 'self'."""

import re

import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command

PATHS = {
    "/api/v1/calls/": {"get", "post"},
    "/api/v1/calls/{uuid}/": {"get", "patch", "delete"},
    "/api/v1/calls/{uuid}/transcript/": {"get"},
    "/api/v1/calls/{uuid}/analytics/": {"get"},
    "/api/v1/calls/{uuid}/tracker-hits/": {"get"},
    "/api/v1/calls/{uuid}/export/": {"get"},
    "/api/v1/calls/{uuid}/retranscribe/": {"post"},
    "/api/v1/calls/{uuid}/cancel/": {"post"},
    "/api/v1/search/": {"get"},
    "/api/v1/teams/": {"get"},
    "/api/v1/teams/{slug}/": {"get"},
    "/api/v1/teams/{team_slug}/trackers/": {"get"},
    "/api/v1/teams/{team_slug}/trackers/{id}/": {"get"},
    "/api/v1/teams/{team_slug}/webhooks/": {"get", "post"},
    "/api/v1/teams/{team_slug}/webhooks/{id}/": {"get", "patch", "delete"},
    "/api/v1/teams/{team_slug}/webhook-deliveries/": {"get"},
    "/api/v1/teams/{team_slug}/webhook-deliveries/{id}/": {"get"},
    "/api/v1/teams/{team_slug}/webhook-deliveries/{id}/resend/": {"post"},
}


def test_the_schema_validates_without_warnings_and_has_every_endpoint(tmp_path, db):
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    described = {path: set(item) - {"parameters"} for path, item in schema["paths"].items()}
    assert described == PATHS
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    create = schema["paths"]["/api/v1/calls/"]["post"]
    assert "multipart/form-data" in create["requestBody"]["content"]
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])


def test_the_docs_page_loads_only_scripts_from_this_server(client, db):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn" not in html.lower()
    policy = dict(
        directive.strip().split(" ", 1) for directive in page["Content-Security-Policy"].split(";")
    )
    assert policy["script-src"] == "'self'"
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all("src=" in attrs and not body.strip() for attrs, body in scripts)
    sources = [re.search(r'src="([^"]+)"', attrs).group(1) for attrs, _ in scripts]
    for source in sources:
        assert source.startswith("/"), source
        if source.startswith("/static/"):
            assert finders.find(source.removeprefix("/static/").split("?")[0]), source
    init = client.get(next(s for s in sources if "script" in s).replace("&amp;", "&"))
    assert init.status_code == 200
    assert init["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in init.content.decode()
