"""The demo's closing message sets the shell variables every doc page uses."""

from __future__ import annotations

import subprocess

from beacon.demo import seed


def test_instructions_export_the_documented_variables() -> None:
    text = seed.instructions(
        "http://127.0.0.1:18000",
        seed.Credentials(api_key="bk_demo", client_id="bcl_demo", client_secret="bcs_demo"),
        seed.DemoResult(
            campaign_id=1,
            campaign_report_id=2,
            segment_id=3,
            activation_id=4,
            deal_id="classify-ttd-3-abcde",
            messaging_campaign_id="0b6a3c1e-0000-4000-8000-000000000000",
        ),
    )
    exports = [line.strip() for line in text.splitlines() if line.startswith("  export ")]
    names = [line.removeprefix("export ").split("=", 1)[0] for line in exports]
    assert names == ["BEACON", "BEACON_KEY", "BEACON_CLIENT_ID", "BEACON_CLIENT_SECRET", "TOKEN"]
    script = "\n".join(line for line in exports if not line.startswith("export TOKEN="))
    shell = subprocess.run(
        ["bash", "-c", f"{script}\necho $BEACON $BEACON_KEY $BEACON_CLIENT_ID"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout.split() == ["http://127.0.0.1:18000", "bk_demo", "bcl_demo"]
    assert '"segment_ids": [3]' in text
    assert "$BEACON/v1/pixel/reports/campaign/2" in text
