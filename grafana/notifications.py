"""Where alerts go: contact points per severity and the notification policy that routes to them.

Three contact points — ``scout-critical`` (every channel), ``scout-warning`` (email and Slack),
``scout-info`` (email) — over the channels chosen in settings (``alerts.channels``: email, Slack,
Microsoft Teams). Their addresses and webhook URLs are never written: the file names environment
variables that Grafana expands when it provisions (:data:`CHANNEL_ENV`; in Kubernetes, from Secrets).
The policy routes on the rules' ``severity`` label. Grafana provisions the policy tree of the
organisation as a whole, so the file belongs to a Grafana of its own (the chart's); with ``scout
grafana push`` to an existing one, route ``team=scout-stream`` there instead.
"""

from __future__ import annotations

from typing import Any

from dataflows.config import AlertSettings

#: channel → (Grafana's contact point type, the setting that holds the address, its environment variable)
CHANNEL_ENV: dict[str, tuple[str, str, str]] = {
    "email": ("email", "addresses", "SCOUT_ALERT_EMAILS"),
    "slack": ("slack", "url", "SCOUT_ALERT_SLACK_WEBHOOK_URL"),
    "teams": ("teams", "url", "SCOUT_ALERT_TEAMS_WEBHOOK_URL"),
}
#: severity → (the channels it uses, how often a firing alert is sent again)
SEVERITIES: dict[str, tuple[tuple[str, ...], str]] = {
    "critical": (("email", "slack", "teams"), "1h"),
    "warning": (("email", "slack"), "4h"),
    "info": (("email",), "24h"),
}


def contact_point(severity: str) -> str:
    return f"scout-{severity}"


def notifications_file(t: AlertSettings | None = None) -> dict[str, Any]:
    """Contact points and the notification policy, as a file in ``provisioning/alerting/``."""
    t = t or AlertSettings()
    points = []
    for severity, (channels, _repeat) in SEVERITIES.items():
        receivers = []
        for channel in channels:
            if channel not in t.channels:
                continue
            kind, setting, env = CHANNEL_ENV[channel]
            receivers.append({"uid": f"scout-{severity}-{channel}", "type": kind, "settings": {setting: f"${env}"}})
        if receivers:
            points.append({"orgId": 1, "name": contact_point(severity), "receivers": receivers})
    named = {p["name"] for p in points}
    routes = [
        {"receiver": contact_point(severity), "object_matchers": [["severity", "=", severity]],
         "repeat_interval": repeat}
        for severity, (_channels, repeat) in SEVERITIES.items()
        if contact_point(severity) in named
    ]  # fmt: skip
    default = contact_point("warning") if contact_point("warning") in named else routes[0]["receiver"]
    policy = {"orgId": 1, "receiver": default, "group_by": ["grafana_folder", "alertname"], "routes": routes}
    return {"apiVersion": 1, "contactPoints": points, "policies": [policy]}
