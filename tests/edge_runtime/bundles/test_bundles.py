"""A bad bundle never becomes active: every tampering case, a failed health check, a failed reload, a crash."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from edge_runtime.bundles.store import ModelStore
from edge_runtime.bundles.updater import Updater
from scout_bundles.archive import verify_archive
from scout_bundles.manifest import BundleError
from scout_bundles.registry import Registry, publish, read_channel, set_channel
from scout_bundles.signing import TrustedKeys, generate, public_text, sign
from tests.edge_fixtures import Bundles
from tests.edge_runtime.bundles.helpers import members, rebuild, resign

LIMIT = 50 * 2**20


def _tamper_cases(b: Bundles) -> dict[str, tuple[Callable[[dict[str, bytes]], dict[str, bytes]], str, dict[str, str]]]:
    other = generate()
    model = "files/centerface_640x448.int8.onnx"
    return {
        "bad signature": (lambda f: f | {"manifest.sig": sign(other, f["manifest.json"])}, "does not trust", {}),
        "forged signature": (
            lambda f: f | {"manifest.sig": json.dumps({**json.loads(f["manifest.sig"]), "signature": "AAAA"}).encode()},
            "bad signature",
            {},
        ),
        "manifest edited after signing": (
            lambda f: f | {"manifest.json": f["manifest.json"].replace(b'"2.0.0"', b'"2.0.1"')},
            "bad signature",
            {},
        ),
        "bad hash": (lambda f: f | {model: f[model][:-1] + bytes([f[model][-1] ^ 1])}, "SHA-256 differs", {}),
        "extra file": (lambda f: f | {"files/evil.sh": b"#!/bin/sh\n"}, "files not in the manifest", {}),
        "missing file": (lambda f: {k: v for k, v in f.items() if k != model}, "missing from the archive", {}),
        "../ path": (lambda f: f | {"files/../../escaped.txt": b"x"}, "unsafe path", {}),
        "absolute path": (lambda f: f | {"/tmp/scout-escaped.txt": b"x"}, "unsafe path", {}),
        "symlink": (lambda f: f, "link", {"files/link.onnx": "/etc/passwd"}),
        "no signature": (lambda f: {k: v for k, v in f.items() if k != "manifest.sig"}, "no manifest.sig", {}),
    }


@pytest.fixture
def store_with_v1(bundles: Bundles, tmp_path: Path) -> ModelStore:
    store = ModelStore(tmp_path / "store", "centerface")
    assert store.install(verify_archive(bundles.v1, bundles.trusted, LIMIT)).ok
    return store


def test_a_good_bundle_verifies_installs_and_swaps_atomically(bundles: Bundles, store_with_v1: ModelStore) -> None:
    store = store_with_v1
    assert store.current_version() == "1.0.0"
    outcome = store.install(verify_archive(bundles.v2, bundles.trusted, LIMIT))
    assert outcome.ok and "reference output reproduced" in outcome.message
    assert store.current_version() == "2.0.0" and os.readlink(store.link) == "versions/2.0.0"
    assert store.model_path() == store.versions / "2.0.0" / "files" / "centerface_640x448.int8.onnx"
    journal = store.journal()
    assert (journal.current, journal.previous, journal.pending) == ("2.0.0", "1.0.0", None)


@pytest.mark.parametrize(
    "case",
    ["bad signature", "forged signature", "manifest edited after signing", "bad hash", "extra file",
     "missing file", "../ path", "absolute path", "symlink", "no signature"],
)  # fmt: skip
def test_a_tampered_bundle_is_rejected_and_never_active(
    bundles: Bundles, store_with_v1: ModelStore, tmp_path: Path, case: str
) -> None:
    change, expected, links = _tamper_cases(bundles)[case]
    bad = rebuild(tmp_path / "bad.tar.gz", change(members(bundles.v2)), links)
    with pytest.raises(BundleError, match=expected):
        verify_archive(bad, bundles.trusted, LIMIT)
    # through the device's own command, as an operator would try it
    proc = _edge("models", "install", str(bad), "--config", str(_config(tmp_path, bundles, store_with_v1)))
    assert proc.returncode == 1 and "rejected, 1.0.0 stays active" in proc.stdout, proc.stdout + proc.stderr
    assert store_with_v1.current_version() == "1.0.0"
    assert sorted(p.name for p in store_with_v1.versions.iterdir()) == ["1.0.0"]
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/scout-escaped.txt").exists()


def test_an_oversized_bundle_is_refused_before_it_is_read(bundles: Bundles) -> None:
    with pytest.raises(BundleError, match="over the limit"):
        verify_archive(bundles.v2, bundles.trusted, 1_000_000)
    # an archive that unpacks to more than the limit is refused at the first header past it (a gzip bomb)
    with pytest.raises(BundleError, match="unpacks to more than the limit"):
        verify_archive(bundles.v2, bundles.trusted, bundles.v2.stat().st_size + 10)


def test_a_signed_bundle_that_fails_its_health_check_is_rolled_back(
    bundles: Bundles, store_with_v1: ModelStore, tmp_path: Path
) -> None:
    good = members(bundles.v2)
    wrong = members(bundles.v1)["files/health/expected.npz"]  # the fp32 model's outputs, not the int8's
    bad = rebuild(tmp_path / "sick.tar.gz", resign(good | {"files/health/expected.npz": wrong}, bundles.key))
    verified = verify_archive(bad, bundles.trusted, LIMIT)  # signed by a trusted key: it verifies
    outcome = store_with_v1.install(verified)
    assert not outcome.ok and "health check: output" in outcome.message
    assert store_with_v1.current_version() == "1.0.0"
    assert store_with_v1.journal().failed == ["2.0.0"]
    assert sorted(p.name for p in store_with_v1.versions.iterdir()) == ["1.0.0"]


def test_a_model_the_worker_cannot_load_is_swapped_back(bundles: Bundles, store_with_v1: ModelStore) -> None:
    seen: list[str] = []

    def reload(folder: Path, manifest: object) -> None:
        seen.append(os.readlink(store_with_v1.link))  # current already points at the new version here
        raise RuntimeError("CUDA out of memory")  # whatever the worker hits

    outcome = store_with_v1.install(verify_archive(bundles.v2, bundles.trusted, LIMIT), reload)
    assert seen == ["versions/2.0.0"]
    assert not outcome.ok and "RuntimeError: CUDA out of memory" in outcome.message
    assert store_with_v1.current_version() == "1.0.0"


def _edge(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_runtime.cli", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _config(tmp_path: Path, b: Bundles, store: ModelStore, registry: Path | None = None) -> Path:
    lines = [
        'device_id = "SCOUTPI-0042"', 'store_id = "STORE-0042"', f'models_dir = "{b.models}"',
        "[vision]", 'bundle = "centerface"',
        "[updates]", f'store = "{store.dir.parent}"', f'registry = "{registry or tmp_path}"', 'channel = "canary"',
        f'trusted_keys = ["{b.public}"]',
    ]  # fmt: skip
    cfg = tmp_path / "edge.toml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def test_sigkill_during_install_leaves_the_old_model_active_after_restart(
    bundles: Bundles, store_with_v1: ModelStore, tmp_path: Path
) -> None:
    cfg = _config(tmp_path, bundles, store_with_v1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_runtime.cli", "models", "install", str(bundles.v2), "--config", str(cfg)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    killed_pending = False
    while time.monotonic() < deadline and proc.poll() is None:
        journal = store_with_v1.journal()
        if journal.pending is not None and journal.pending.version == "2.0.0":
            os.kill(proc.pid, signal.SIGKILL)
            killed_pending = True
            break
        time.sleep(0.002)
    proc.wait(timeout=30)
    assert killed_pending, "the install finished before it could be killed mid-way"
    status = json.loads(_edge("models", "status", "--config", str(cfg)).stdout)
    assert status["pending"]["version"] == "2.0.0"  # the journal shows the unfinished update (status only reads)
    # restart: the agent's start-up resolves it (Agent.__init__ calls exactly this)
    outcome = ModelStore(store_with_v1.dir.parent, "centerface").resolve()
    assert outcome and "update interrupted (attempt 1); rolled back to 1.0.0" in outcome.message
    status = json.loads(_edge("models", "status", "--config", str(cfg)).stdout)
    assert status["active"] == "1.0.0" and status["pending"] is None
    assert sorted(p.name for p in store_with_v1.versions.iterdir()) == ["1.0.0"]  # no half-unpacked version left
    # the next attempt succeeds
    assert _edge("models", "install", str(bundles.v2), "--config", str(cfg)).returncode == 0
    assert store_with_v1.current_version() == "2.0.0"


def test_only_the_newest_versions_are_kept(bundles: Bundles, tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "store", "centerface", keep=2)
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        files = resign(members(bundles.v1), bundles.key, version=version)
        archive = rebuild(tmp_path / f"{version}.tar.gz", files)
        assert store.install(verify_archive(archive, bundles.trusted, LIMIT)).ok
        time.sleep(0.01)
    assert sorted(p.name for p in store.versions.iterdir()) == ["1.1.0", "1.2.0"]


def test_the_channel_index_is_signed_and_never_goes_back(bundles: Bundles, tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    manifest = verify_archive(bundles.v1, bundles.trusted, LIMIT).manifest
    publish(registry, bundles.v1, manifest, "canary", bundles.key)
    updater = Updater(Registry(str(registry)), "canary", bundles.trusted, tmp_path / "store",
                      {"centerface": lambda f, m: None}, max_bytes=LIMIT)  # fmt: skip
    assert [o.ok for o in updater.poll_once()] == [True]
    index = registry / "channels/canary.json"
    old_index, old_sig = index.read_bytes(), (registry / "channels/canary.json.sig").read_bytes()
    entry = verify_archive(bundles.v2, bundles.trusted, LIMIT).manifest
    publish(registry, bundles.v2, entry, "canary", bundles.key)
    assert [o.message.split(":")[0] for o in updater.poll_once()] == ["centerface 2.0.0"]
    # an attacker who can write the web server replays the old (signed) index: refused
    index.write_bytes(old_index)
    (registry / "channels/canary.json.sig").write_bytes(old_sig)
    with pytest.raises(BundleError, match="older than"):
        updater.poll_once()
    # or edits the index: the signature no longer matches
    index.write_bytes(old_index.replace(b'"1.0.0"', b'"0.9.0"'))
    with pytest.raises(BundleError, match="bad signature"):
        updater.poll_once()
    # a signed index that names a version its archive does not hold (a publishing mistake)
    current = read_channel(registry, "canary").bundles["centerface"]
    set_channel(registry, "canary", "centerface", msgspec.structs.replace(current, version="3.0.0"), bundles.key)
    outcomes = updater.poll_once()
    assert outcomes and not outcomes[0].ok and "archive holds centerface@" in outcomes[0].message


def test_trusted_keys_in_the_config_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ed25519"):
        TrustedKeys.parse(["ssh-ed25519 AAAA"])
    with pytest.raises(ValueError, match="not an ed25519 public key"):
        TrustedKeys.parse(["ed25519:AAAA"])
    two = TrustedKeys.parse([public_text(generate()), public_text(generate())])  # key rotation: two at once
    assert len(two.keys) == 2


def test_another_channels_signed_index_is_refused_and_remembers_nothing(bundles: Bundles, tmp_path: Path) -> None:
    """Issue #20, item 1: the canary channel's signed index served as ``channels/stable.json`` made a stable
    device install canary's version and remember canary's higher sequence, refusing the real stable index
    afterwards. The index names the channel it was signed for; another one is refused."""
    registry = tmp_path / "registry"
    publish(registry, bundles.v1, verify_archive(bundles.v1, bundles.trusted, LIMIT).manifest, "stable", bundles.key)
    v2 = verify_archive(bundles.v2, bundles.trusted, LIMIT).manifest
    for _ in range(3):  # canary is ahead: sequence 3
        publish(registry, bundles.v2, v2, "canary", bundles.key)
    stable, canary = registry / "channels/stable.json", registry / "channels/canary.json"
    real = stable.read_bytes(), (registry / "channels/stable.json.sig").read_bytes()
    stable.write_bytes(canary.read_bytes())
    (registry / "channels/stable.json.sig").write_bytes((registry / "channels/canary.json.sig").read_bytes())
    updater = Updater(Registry(str(registry)), "stable", bundles.trusted, tmp_path / "store",
                      {"centerface": lambda f, m: None}, max_bytes=LIMIT)  # fmt: skip
    with pytest.raises(BundleError, match="signed for channel 'canary'"):
        updater.poll_once()
    assert ModelStore(tmp_path / "store", "centerface").current_version() is None
    stable.write_bytes(real[0])  # the real stable index again: accepted (no canary sequence remembered)
    (registry / "channels/stable.json.sig").write_bytes(real[1])
    assert [(o.ok, o.message.split(":")[0]) for o in updater.poll_once()] == [(True, "centerface 1.0.0")]


def test_a_corrupt_channel_state_file_is_rebuilt_not_fatal(bundles: Bundles, tmp_path: Path) -> None:
    """Issue #20, item 4: a torn ``channel-<ch>.json`` made every later poll fail with a DecodeError. It is
    reported and rebuilt from the next verified index; the file is written atomically (no ``.tmp`` left)."""
    registry = tmp_path / "registry"
    publish(registry, bundles.v1, verify_archive(bundles.v1, bundles.trusted, LIMIT).manifest, "stable", bundles.key)
    store = tmp_path / "store"
    updater = Updater(Registry(str(registry)), "stable", bundles.trusted, store,
                      {"centerface": lambda f, m: None}, max_bytes=LIMIT)  # fmt: skip
    assert [o.ok for o in updater.poll_once()] == [True]
    state = store / "channel-stable.json"
    state.write_bytes(b'{"sequence": 1')  # torn by a power cut
    assert updater.poll_once() == []  # nothing new to install, and no error
    assert json.loads(state.read_bytes()) == {"sequence": 1}
    assert not list(store.glob("*.tmp"))


def test_a_bundle_for_a_newer_agent_is_refused_before_it_is_unpacked(
    bundles: Bundles, store_with_v1: ModelStore, tmp_path: Path
) -> None:
    """Issue #20, item 3: ``min_agent_version`` in a signed manifest was never read, so a bundle for a newer
    agent installed. Now it is refused on every path (updater and by hand), before anything is unpacked."""
    files = resign(members(bundles.v2), bundles.key, min_agent_version="99.0.0")
    archive = rebuild(tmp_path / "needs-99.tar.gz", files)
    outcome = store_with_v1.install(verify_archive(archive, bundles.trusted, LIMIT))
    assert not outcome.ok and "needs agent 99.0.0 or newer" in outcome.message
    assert store_with_v1.current_version() == "1.0.0"
    assert not (store_with_v1.versions / "2.0.0").exists() and not list(store_with_v1.versions.glob(".staging*"))


def test_no_downgrade_unless_a_signed_rollback_or_by_hand(bundles: Bundles, tmp_path: Path) -> None:
    """Issue #20, item 2: after a by-hand install of 2.0.0, a replayed signed index (sequence 1) pointing at
    1.0.0 downgraded the device. The rule (docs/models.md, "Downgrades"): never to a lower version, except
    an entry its signed index marks as a rollback, or ``--allow-downgrade`` by hand."""
    registry, store_root = tmp_path / "registry", tmp_path / "store"
    publish(registry, bundles.v1, verify_archive(bundles.v1, bundles.trusted, LIMIT).manifest, "stable", bundles.key)
    assert not read_channel(registry, "stable").bundles["centerface"].rollback
    store = ModelStore(store_root, "centerface")
    assert store.install(verify_archive(bundles.v2, bundles.trusted, LIMIT)).ok  # 2.0.0 by hand
    updater = Updater(Registry(str(registry)), "stable", bundles.trusted, store_root,
                      {"centerface": lambda f, m: None}, max_bytes=LIMIT)  # fmt: skip
    [refused] = updater.poll_once()  # the index (sequence 1) says 1.0.0, not as a rollback
    assert not refused.ok and "a downgrade from 2.0.0" in refused.message
    assert store.current_version() == "2.0.0" and "1.0.0" not in store.journal().failed
    # by hand: refused, then allowed
    v1 = verify_archive(bundles.v1, bundles.trusted, LIMIT)
    assert not store.install(v1).ok and store.current_version() == "2.0.0"
    assert store.install(v1, allow_downgrade=True).ok and store.current_version() == "1.0.0"
    # the channel goes 1.0.0 → 2.0.0 → 1.0.0: the last entry is a signed rollback, and devices follow it
    v2m = verify_archive(bundles.v2, bundles.trusted, LIMIT).manifest
    publish(registry, bundles.v2, v2m, "stable", bundles.key)
    assert [o.ok for o in updater.poll_once()] == [True] and store.current_version() == "2.0.0"
    publish(registry, bundles.v1, verify_archive(bundles.v1, bundles.trusted, LIMIT).manifest, "stable", bundles.key)
    assert read_channel(registry, "stable").bundles["centerface"].rollback
    assert [o.ok for o in updater.poll_once()] == [True] and store.current_version() == "1.0.0"


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [("vision", "bundle", "../../escaped"), ("vision", "bundle", "a/b"), ("updates", "channel", "../x")],
)
def test_path_names_from_the_config_are_refused_before_any_filesystem_call(
    bundles: Bundles, tmp_path: Path, section: str, key: str, value: str
) -> None:
    """Issue #20, item 8: ``vision.bundle = "../../…"`` created folders outside the model store, even from
    ``scout-edge models status``. Names are checked when the config is read: one line, exit 2, nothing made."""
    store = tmp_path / "deep" / "store"
    lines = [
        'device_id = "SCOUTPI-0042"', 'store_id = "STORE-0042"', f'models_dir = "{bundles.models}"',
        "[vision]", f'bundle = "{value if (section, key) == ("vision", "bundle") else "centerface"}"',
        "[updates]", f'store = "{store}"', f'registry = "{tmp_path}"',
        f'channel = "{value if (section, key) == ("updates", "channel") else "canary"}"',
        f'trusted_keys = ["{bundles.public}"]',
    ]  # fmt: skip
    cfg = tmp_path / "edge.toml"
    cfg.write_text("\n".join(lines) + "\n")
    before = sorted(p for p in tmp_path.rglob("*"))
    for command in (("models", "status"), ("models", "update")):
        proc = _edge(*command, "--config", str(cfg))
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert key in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_status_on_a_device_without_bundles_creates_nothing(bundles: Bundles, tmp_path: Path) -> None:
    """A read-only command never creates anything (issue #20, item 8)."""
    store = ModelStore.__new__(ModelStore)  # only its path: _config reads store.dir.parent
    store.dir = tmp_path / "fresh" / "centerface"
    cfg = _config(tmp_path, bundles, store)
    status = json.loads(_edge("models", "status", "--config", str(cfg)).stdout)
    assert status["active"] is None and not (tmp_path / "fresh").exists()


def test_a_signed_index_naming_a_file_outside_a_local_registry_is_one_line(
    bundles: Bundles, store_with_v1: ModelStore, tmp_path: Path
) -> None:
    """Issue #20, item 11: a local registry whose (signed) index names ``../../…`` gave a traceback from
    ``scout-edge models update``. Now: one line, exit 1, the active version untouched."""
    registry = tmp_path / "registry"
    publish(registry, bundles.v2, verify_archive(bundles.v2, bundles.trusted, LIMIT).manifest, "canary", bundles.key)
    entry = read_channel(registry, "canary").bundles["centerface"]
    set_channel(registry, "canary", "centerface", msgspec.structs.replace(entry, archive="../../outside.tar.gz"),
                bundles.key)  # fmt: skip
    proc = _edge("models", "update", "--config", str(_config(tmp_path, bundles, store_with_v1, registry)))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "is not in the registry" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert store_with_v1.current_version() == "1.0.0"


def test_a_wrong_kind_in_the_index_does_not_blacklist_the_good_version(bundles: Bundles, tmp_path: Path) -> None:
    """Issue #20, item 4: a signed index whose entry had the wrong ``kind`` made the (good) version failed
    for ever. The index is what is wrong: once corrected, the version installs."""
    registry = tmp_path / "registry"
    publish(registry, bundles.v1, verify_archive(bundles.v1, bundles.trusted, LIMIT).manifest, "stable", bundles.key)
    entry = read_channel(registry, "stable").bundles["centerface"]
    set_channel(registry, "stable", "centerface", msgspec.structs.replace(entry, kind="stt"), bundles.key)
    updater = Updater(Registry(str(registry)), "stable", bundles.trusted, tmp_path / "store",
                      {"centerface": lambda f, m: None}, max_bytes=LIMIT)  # fmt: skip
    [refused] = updater.poll_once()
    assert not refused.ok and "the index says 1.0.0 (stt)" in refused.message
    assert ModelStore(tmp_path / "store", "centerface").journal().failed == []
    set_channel(registry, "stable", "centerface", entry, bundles.key)  # corrected
    assert [o.ok for o in updater.poll_once()] == [True]


@pytest.mark.parametrize(("atol", "rtol"), [(1e9, 1e-3), (1e-4, 50.0), (float("nan"), 1e-3), (-1.0, 1e-3)])
def test_health_tolerances_beyond_their_caps_are_refused(
    bundles: Bundles, tmp_path: Path, atol: float, rtol: float
) -> None:
    """Issue #20, item 4: a signed ``health.atol`` of 1e9 made the health check pass anything."""
    from scout_bundles.manifest import Health, decode_manifest

    files = members(bundles.v2)
    health = decode_manifest(files["manifest.json"]).health
    assert health is not None
    changed = Health(health.inputs, health.expected, atol=atol, rtol=rtol)
    archive = rebuild(tmp_path / "loose.tar.gz", resign(files, bundles.key, health=changed))
    with pytest.raises(BundleError, match=r"beyond the caps|Expected `float`, got `null`"):
        verify_archive(archive, bundles.trusted, LIMIT)


def test_a_refused_archive_installed_by_hand_leaves_no_file_name_among_the_failed_versions(
    bundles: Bundles, store_with_v1: ModelStore, tmp_path: Path
) -> None:
    """Issue #20, item 4: a by-hand refusal recorded the archive's file name as a failed *version*."""
    files = members(bundles.v2)
    bad = rebuild(tmp_path / "edited.tar.gz", files | {"manifest.json": files["manifest.json"] + b" "})
    proc = _edge("models", "install", str(bad), "--config", str(_config(tmp_path, bundles, store_with_v1)))
    assert proc.returncode == 1 and "edited.tar.gz: rejected, 1.0.0 stays active" in proc.stdout
    assert store_with_v1.journal().failed == []


def _hostile(path: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(b"\0" * info.size))
    return path


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("pax_header", "an extended tar header of"),
        ("many_members", "more than 10,000 entries"),
        ("long_name", "an extended tar header of"),
    ],
)
def test_hostile_unsigned_archives_are_refused_before_tarfile_parses_them(
    bundles: Bundles, tmp_path: Path, case: str, reason: str
) -> None:
    """Issue #20, item 5: a 400 MiB PAX header took 497 MB and 25 s, 300,000 empty members 60 s, a 64 MiB
    name went whole into state.json. The raw headers are checked first (scout_bundles/archive.py:
    prescan) and every reason is at most 500 characters. (Smaller sizes here: the caps are far below.)"""
    if case == "pax_header":
        info = tarfile.TarInfo("manifest.json")
        info.pax_headers = {"comment": "x" * (1 << 20)}
        members_ = [info]
    elif case == "many_members":
        members_ = [tarfile.TarInfo(f"files/{i}") for i in range(10_001)]
    else:
        members_ = [tarfile.TarInfo("files/" + "n" * 200_000)]
    archive = _hostile(tmp_path / f"{case}.tar.gz", members_)
    with pytest.raises(BundleError, match=reason) as caught:
        verify_archive(archive, bundles.trusted, LIMIT)
    assert len(str(caught.value)) <= 500
