"""Schemas the chart's rendered objects are validated against (issue #22, item 3): Kubernetes' own, strict
(kubernetes-validate's, every error reported), and the published schemas of the custom resources'
operators (``tests/k8s/crds.mjs`` over the npm packages of ``requirements/k8s-crds``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / ".scout" / "crd-models"
#: the Kubernetes version the chart targets (Chart.yaml: kubeVersion >= 1.29)
K8S_VERSION = "1.33"


def custom(obj: dict[str, Any]) -> bool:
    """A custom resource (an operator's kind), not one of Kubernetes' own."""
    group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
    return "." in group and not group.endswith(".k8s.io")


def schema_errors(obj: dict[str, Any]) -> list[str]:
    """Every error of one object against the strict schema of its kind (kubernetes-validate stops at one)."""
    version = next(v for v in reversed(kv.all_versions()) if kv.major_minor(v) <= kv.major_minor(K8S_VERSION))
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", obj["apiVersion"])  # apps/v1 → apps-v1, as kubernetes-validate
    schema = kv.schema_contents(f"{folder}/{obj['kind'].lower()}-{api}.json", K8S_VERSION)
    definitions = kv.schema_contents(f"{folder}/_definitions.json", K8S_VERSION)
    registry: Registry[Any] = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    return [f"{obj['kind']}/{obj['metadata']['name']}: {e.json_path}: {e.message}" for e in validator.iter_errors(obj)]


def crd_errors(objects: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Every error of each custom resource against its CRD's published schema (tests/k8s/crds.mjs)."""
    node = shutil.which("node")
    assert node and (MODELS / "node_modules" / ".complete").exists(), "make test installs node's CRD schemas"
    proc = subprocess.run([node, str(Path(__file__).with_name("crds.mjs")), str(MODELS)], input=json.dumps(objects),
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return {r["name"]: r["errors"] for r in json.loads(proc.stdout)}
