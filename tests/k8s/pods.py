"""The chart's rendered pods and Jobs, started as local processes (issue #22, item 4).

No API server runs here, so a test does the kubelet's part for the containers of the rendered
objects: the same command (the container's ``command``, else the image's ``ENTRYPOINT`` read from the
Dockerfile), the same arguments with ``$(VAR)`` expanded as Kubernetes does, the same environment
(``fieldRef: metadata.name`` is the pod's name, a ``secretKeyRef`` is looked up in the Secrets the
test supplies: a missing one fails as the pod would), the ConfigMap's files and the Secrets' items
written where the pod mounts them, a directory per ``emptyDir`` of a pod, and one per volume claim
that outlives the "pods" (as a StatefulSet keeps its volumes). Init containers, if any, run first,
to completion.

What differs, and why:

* **Paths.** A mount path (``/etc/scout``, ``/var/lib/scout/recovery``, ``/tmp``) is a directory of
  the test; the rendered arguments, environment values and ConfigMap files are rewritten to it.
* **Addresses.** Every process here shares one network namespace, so the cluster's names are
  resolved as DNS would, to this machine: each pod's hostfile address becomes ``127.0.0.1`` and a
  port of its own, and the services the values name (the brokers, the ClickHouse server) become the
  test's broker and chDB directory (no ClickHouse server runs here; with chDB one process writes,
  whatever ``SCOUT_WRITERS`` says). The metrics port the config sets is the same in every pod, so
  each "pod" gets its own through ``SCOUT_METRICS_PORT`` (and binds ``127.0.0.1``).
* **The image.** ``python`` and ``scout`` are the project's virtualenv (the image's ``/opt/scout``);
  ``/usr/bin/tini`` is Debian's tini, the package the image installs; not being PID 1 here, it is
  told to reap orphans as PID 1 does (``TINI_SUBREAPER``).

Not covered: the kubelet itself (probe timings, restarts, scheduling), an API server, volumes on
other machines, network policies, and the image build (no Docker engine here).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataflows.cluster import free_ports
from tests.prometheus import scrape, total

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def image_entrypoint(dockerfile: Path = ROOT / "Dockerfile") -> list[str]:
    """The final stage's ``ENTRYPOINT`` (exec form), as the container runtime would run it."""
    [line] = [line for line in dockerfile.read_text().splitlines() if line.startswith("ENTRYPOINT ")][-1:]
    return list(json.loads(line.removeprefix("ENTRYPOINT ")))


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion of ``command``/``args``: a defined variable is replaced,
    an undefined one left as written, ``$$`` is a literal ``$``."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", one, text)


@dataclass
class Pod:
    """One started "pod": its main container's process and the local ports standing for its own."""

    name: str
    proc: subprocess.Popen[bytes]
    ports: dict[str, int]
    log: Path
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def probe(self, kind: str, timeout_s: float = 5.0) -> tuple[int, str]:
        """What the kubelet's ``kind`` probe (``livenessProbe``…) would get: (HTTP status, body)."""
        get = self.probes[kind]["httpGet"]
        port = self.ports[get["port"]] if isinstance(get["port"], str) else get["port"]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{get['path']}", timeout=timeout_s) as r:
                return int(r.status), r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError as exc:
            return 0, str(exc)

    def metric(self, name: str) -> float:
        """The sum of a metric's samples on this pod's /metrics (0 if it has none yet)."""
        try:
            return total(scrape(self.ports["metrics"], timeout_s=5), name)
        except OSError:
            return 0.0

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")


class Rendered:
    """The objects of one ``helm template``, ready to start on this machine under ``root``.

    ``namespace``: the release's. ``addresses`` maps a service address as written in the values
    (``kafka.dev.svc:9092``, a ClickHouse URL) to what stands for it here; ``secrets`` maps (Secret
    name, key) to a value."""

    def __init__(self, objects: list[dict[str, Any]], root: Path, addresses: dict[str, str], namespace: str,
                 secrets: dict[tuple[str, str], str] | None = None) -> None:  # fmt: skip
        self.objects = objects
        self.root = root
        self.secrets = secrets or {}
        self.configmaps = {o["metadata"]["name"]: o["data"] for o in objects if o["kind"] == "ConfigMap"}
        self.sts = next(o for o in objects if o["kind"] == "StatefulSet")
        self.namespace = namespace  # helm template's --namespace (the objects do not name it)
        self.pod_names = [f"{self.sts['metadata']['name']}-{i}" for i in range(self.sts["spec"]["replicas"])]
        ports = iter(free_ports(2 * len(self.pod_names)))  # distinct: each pod's own, as in its network namespace
        self.pod_ports = {name: {"bytewax": next(ports), "metrics": next(ports)} for name in self.pod_names}
        cluster_port = next(p["containerPort"] for p in self.containers(self.sts)[0]["ports"] if p["name"] == "bytewax")
        service = self.sts["spec"]["serviceName"]
        dns = {f"{n}.{service}.{self.namespace}.svc.cluster.local:{cluster_port}": f"127.0.0.1:{p['bytewax']}"
               for n, p in self.pod_ports.items()}  # fmt: skip
        self.addresses = {**addresses, **dns}

    @staticmethod
    def containers(workload: dict[str, Any], init: bool = False) -> list[dict[str, Any]]:
        spec = workload["spec"]["template"]["spec"]
        return list(spec.get("initContainers" if init else "containers", []))

    def job(self, suffix: str) -> dict[str, Any]:
        return next(o for o in self.objects if o["kind"] == "Job" and o["metadata"]["name"].endswith(suffix))

    def _translate(self, text: str, mounts: dict[str, Path]) -> str:
        if mounts:  # one pass (a local path is not mapped again), a mount path where it starts a token
            paths = "|".join(re.escape(m) for m in sorted(mounts, key=len, reverse=True))
            text = re.sub(rf"(?<![\w/.-])({paths})(?=/|\b|$)", lambda m: str(mounts[m.group(1)]), text)
        for address in sorted(self.addresses, key=len, reverse=True):
            text = text.replace(address, self.addresses[address])
        return text

    def _volumes(self, workload: dict[str, Any], pod: str, container: dict[str, Any]) -> dict[str, Path]:
        """Mount path → local directory, each filled as the pod's volume would be."""
        spec = workload["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        claims = {c["metadata"]["name"] for c in workload["spec"].get("volumeClaimTemplates", [])}
        mounts: dict[str, Path] = {}
        for m in container.get("volumeMounts", []):
            if m["name"] in claims:  # a claim per pod, kept across starts
                local = self.root / "volumes" / f"{m['name']}-{pod}"
            else:
                local = self.root / "pods" / pod / container["name"] / m["name"]
            local.mkdir(parents=True, exist_ok=True)
            mounts[m["mountPath"]] = local
        for m in container.get("volumeMounts", []):
            volume = volumes.get(m["name"], {})
            if "configMap" in volume:
                for key, text in self.configmaps[volume["configMap"]["name"]].items():
                    (mounts[m["mountPath"]] / key).write_text(self._translate(text, mounts))
            elif "secret" in volume:  # a Secret's items as files (a missing one: the pod would not start)
                name = volume["secret"]["secretName"]
                for item in volume["secret"]["items"]:
                    assert (name, item["key"]) in self.secrets, f"Secret {name}/{item['key']} missing"
                    (mounts[m["mountPath"]] / item["path"]).write_text(self.secrets[(name, item["key"])])
        return mounts

    def _env(self, container: dict[str, Any], pod: str, mounts: dict[str, Path]) -> dict[str, str]:
        env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
               "HOME": str(mounts.get("/tmp", self.root)), "TINI_SUBREAPER": "1"}  # fmt: skip
        for e in container.get("env", []):
            if "value" in e:
                env[e["name"]] = expand(self._translate(str(e["value"]), mounts), env)
            elif ref := e["valueFrom"].get("fieldRef"):
                assert ref["fieldPath"] == "metadata.name", f"no local stand-in for fieldRef {ref}"
                env[e["name"]] = pod
            elif ref := e["valueFrom"].get("secretKeyRef"):
                key = (ref["name"], ref["key"])
                assert key in self.secrets, f"Secret {key} missing: the pod would not start"
                env[e["name"]] = self.secrets[key]
            else:
                raise AssertionError(f"no local stand-in for {e}")
        return env

    def _argv(self, container: dict[str, Any], env: dict[str, str], mounts: dict[str, Path]) -> list[str]:
        argv = [*(container.get("command") or image_entrypoint()), *container.get("args", [])]
        return [self._translate(expand(a, env), mounts) for a in argv]

    def _prepare(self, workload: dict[str, Any], pod: str, container: dict[str, Any]
                 ) -> tuple[list[str], dict[str, str], Path]:  # fmt: skip
        mounts = self._volumes(workload, pod, container)
        env = self._env(container, pod, mounts)
        return self._argv(container, env, mounts), env, mounts.get("/tmp", self.root)

    def run_job(self, suffix: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
        """Run a rendered Job's one container to completion (a hook or a replay)."""
        job = self.job(suffix)
        [container] = self.containers(job)
        argv, env, cwd = self._prepare(job, job["metadata"]["name"], container)
        return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False)

    def start(self, extra_env: dict[str, str] | None = None) -> list[Pod]:
        """Start every pod of the StatefulSet: its init containers to completion, then its main container."""
        pods = []
        for name in self.pod_names:
            for init in self.containers(self.sts, init=True):
                argv, env, cwd = self._prepare(self.sts, name, init)
                done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
                assert done.returncode == 0, f"{name}/{init['name']}: {done.stderr}"
            [main] = self.containers(self.sts)
            argv, env, cwd = self._prepare(self.sts, name, main)
            ports = self.pod_ports[name]
            env |= {"SCOUT_METRICS_PORT": str(ports["metrics"]), "SCOUT_METRICS_HOST": "127.0.0.1", **(extra_env or {})}
            log = self.root / "pods" / name / f"{main['name']}-{time.monotonic_ns()}.log"
            with log.open("wb") as err:
                proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=err, stderr=subprocess.STDOUT,
                                        start_new_session=True)  # fmt: skip
            kinds = ("startupProbe", "livenessProbe", "readinessProbe")
            probes: dict[str, dict[str, Any]] = {k: main[k] for k in kinds if k in main}
            pods.append(Pod(name, proc, ports, log, probes))
        return pods

    def grace_s(self) -> float:
        return float(self.sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"])


def terminate(pods: list[Pod], grace_s: float) -> dict[str, int | None]:
    """SIGTERM to every pod's PID 1 (tini), as the kubelet sends it; then what each exited with within
    the grace period (``None``: still running, and then killed as the kubelet would)."""
    for pod in pods:
        if pod.proc.poll() is None:
            pod.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    codes: dict[str, int | None] = {}
    for pod in pods:
        try:
            codes[pod.name] = pod.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            codes[pod.name] = None
            os.killpg(pod.proc.pid, signal.SIGKILL)
            pod.proc.wait(timeout=30)
    return codes


def wait_until(predicate: Any, what: str, pods: list[Pod], timeout_s: float = 300) -> None:
    """Wait for an event (``predicate()`` true); fail naming ``what`` and the pods' last words if it does
    not come within ``timeout_s`` or a pod exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        if any(p.proc.poll() is not None for p in pods):
            break
        time.sleep(0.2)
    said = "\n".join(f"--- {p.name} (exit {p.proc.poll()}) ---\n{p.stderr()[-3000:]}" for p in pods)
    raise AssertionError(f"{what}: not within {timeout_s:.0f} s or a pod ended\n{said}")
