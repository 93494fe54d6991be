"""Policy checks on the chart's rendered objects (what a cluster would run): each returns its problems.

Used by ``tests/k8s/test_chart.py``, which also seeds a defect for each and sees it reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]

RECOVERY_DIR = "/var/lib/scout/recovery"


def _of(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o.get("kind") == kind]


def _pod_specs(objects: list[Obj]) -> list[tuple[str, Obj]]:
    found = []
    for o in objects:
        if o["kind"] in ("StatefulSet", "Deployment", "Job"):
            found.append((f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"]))
    return found


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def selectors_match(objects: list[Obj]) -> list[str]:
    """Each workload's selector matches its own pods and no other workload's; each Service and
    PodDisruptionBudget selects the pods of exactly one workload."""
    pods = {f"{w['kind']}/{w['metadata']['name']}": w["spec"]["template"]["metadata"]["labels"]
            for w in objects if w["kind"] in ("StatefulSet", "Deployment")}  # fmt: skip
    out = []
    for w in objects:
        if w["kind"] in ("StatefulSet", "Deployment"):
            own = f"{w['kind']}/{w['metadata']['name']}"
            matched = [name for name, labels in pods.items() if _matches(w["spec"]["selector"]["matchLabels"], labels)]
            if matched != [own]:
                out.append(f"{own}: its selector matches the pods of {matched}, not its own alone")
        elif w["kind"] in ("Service", "PodDisruptionBudget"):
            selector = w["spec"]["selector"] if w["kind"] == "Service" else w["spec"]["selector"]["matchLabels"]
            matched = [name for name, labels in pods.items() if _matches(selector, labels)]
            if len(matched) != 1:
                out.append(f"{w['kind']}/{w['metadata']['name']}: its selector matches the pods of {matched}")
    return out


def headless_service(objects: list[Obj]) -> list[str]:
    headless = {s["metadata"]["name"] for s in _of(objects, "Service") if s["spec"].get("clusterIP") == "None"}
    return [
        f"StatefulSet/{s['metadata']['name']}: serviceName {s['spec'].get('serviceName')!r} is not a headless Service"
        for s in _of(objects, "StatefulSet")
        if s["spec"].get("serviceName") not in headless
    ]


def probes_and_resources(objects: list[Obj]) -> list[str]:
    out = []
    for where, spec in _pod_specs(objects):
        for c in spec.get("initContainers", []) + spec["containers"]:
            res = c.get("resources", {})
            if not res.get("requests") or not res.get("limits", {}).get("memory"):
                out.append(f"{where} {c['name']}: requests and a memory limit are required")
        if where.startswith(("StatefulSet", "Deployment")):
            for c in spec["containers"]:
                missing = [p for p in ("livenessProbe", "readinessProbe") if p not in c]
                if missing:
                    out.append(f"{where} {c['name']}: no {', '.join(missing)}")
    return out


def security_context(objects: list[Obj]) -> list[str]:
    out = []
    for where, spec in _pod_specs(objects):
        pod = spec.get("securityContext", {})
        if not pod.get("runAsNonRoot") or pod.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            out.append(f"{where}: the pod needs runAsNonRoot and seccompProfile RuntimeDefault")
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c.get("securityContext", {})
            if not (sc.get("readOnlyRootFilesystem") and sc.get("allowPrivilegeEscalation") is False
                    and sc.get("capabilities", {}).get("drop") == ["ALL"]):  # fmt: skip
                out.append(f"{where} {c['name']}: read-only root, no privilege escalation, all capabilities dropped")
    return out


def images_pinned(objects: list[Obj]) -> list[str]:
    out = []
    for where, spec in _pod_specs(objects):
        for c in spec.get("initContainers", []) + spec["containers"]:
            image = c["image"]
            tag = image.split("@")[0].rsplit(":", 1)
            if len(tag) != 2 or "/" in tag[1] or tag[1] == "latest":
                out.append(f"{where} {c['name']}: image {image!r} is not pinned to a tag")
    return out


_SECRET_KEY = re.compile(r"^\s*\w*(password|secret|token|connection_string)\w*\s*=", re.IGNORECASE | re.MULTILINE)


def no_secret_in_config_maps(objects: list[Obj]) -> list[str]:
    return [
        f"ConfigMap/{cm['metadata']['name']}: {key} sets a secret"
        for cm in _of(objects, "ConfigMap")
        for key, text in cm.get("data", {}).items()
        if _SECRET_KEY.search(text)
    ]


def recovery_on_a_volume(objects: list[Obj]) -> list[str]:
    out = []
    for sts in _of(objects, "StatefulSet"):
        claims = {c["metadata"]["name"] for c in sts["spec"].get("volumeClaimTemplates", [])}
        mounts = {m["name"]: m["mountPath"] for c in sts["spec"]["template"]["spec"]["containers"]
                  for m in c.get("volumeMounts", [])}  # fmt: skip
        if not any(mounts.get(claim) == RECOVERY_DIR for claim in claims):
            out.append(f"StatefulSet/{sts['metadata']['name']}: {RECOVERY_DIR} is not on a PersistentVolumeClaim")
    return out


def replicas_within_partitions(objects: list[Obj]) -> list[str]:
    out = []
    for cm in _of(objects, "ConfigMap"):
        found = re.search(r"^recovery_partitions = (\d+)$", cm.get("data", {}).get("scout.toml", ""), re.MULTILINE)
        for sts in _of(objects, "StatefulSet"):
            if found and sts["spec"]["replicas"] > int(found.group(1)):
                out.append(f"StatefulSet/{sts['metadata']['name']}: {sts['spec']['replicas']} replicas over "
                           f"{found.group(1)} recovery partitions")  # fmt: skip
    return out


CHECKS: dict[str, Callable[[list[Obj]], list[str]]] = {
    "selectors": selectors_match,
    "headless": headless_service,
    "probes and resources": probes_and_resources,
    "security context": security_context,
    "images pinned": images_pinned,
    "no secret in config maps": no_secret_in_config_maps,
    "recovery on a volume": recovery_on_a_volume,
    "replicas within partitions": replicas_within_partitions,
}


def problems(objects: list[Obj]) -> list[str]:
    return [p for check in CHECKS.values() for p in check(objects)]
