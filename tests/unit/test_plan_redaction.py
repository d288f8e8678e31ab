"""`counselkit plan --json` never prints credentials that tenants.yaml carries in URLs."""

from __future__ import annotations

from tests.support import example_data, write_yaml


def test_plan_json_redacts_proxy_credentials(tmp_path):
    import json

    from click.testing import CliRunner

    from counselkit.cli import cli

    data = example_data()
    data["platform"]["proxy"] = "http://deploy:s3cr3t-Pa55@proxy.example.org:3128/"
    path = write_yaml(tmp_path / "tenants.yaml", data)
    result = CliRunner().invoke(cli, ["plan", "--json", str(path)])
    assert result.exit_code == 0, result.output
    assert "s3cr3t-Pa55" not in result.output and "deploy:" not in result.output
    assert json.loads(result.output)["platform"]["proxy"] == "http://***:***@proxy.example.org:3128/"
