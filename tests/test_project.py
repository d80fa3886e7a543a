"""The project's own files: documented settings, valid compose files, a clean Dockerfile."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import Settings
from tests.processes import ROOT

BIN = Path(sys.executable).parent
SETTINGS = sorted(Settings.model_fields)


@pytest.mark.parametrize("name", [".env.dev.example", ".env.prod.example"])
def test_every_setting_is_in_the_env_examples(name):
    text = (ROOT / name).read_text()
    missing = [s for s in SETTINGS if not re.search(rf"^{s}=", text, re.M)]
    assert missing == []


def test_every_setting_is_in_the_operations_guide():
    guide = (ROOT / "docs" / "operations.md").read_text()
    assert [s for s in SETTINGS if f"| `{s}` |" not in guide] == []


def test_the_readme_is_short_and_its_links_lead_somewhere():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
            if not target.startswith(("http://", "https://")):
                assert (page.parent / target).exists(), f"{page.name} links to {target}"


def test_env_examples_hold_the_same_variables():
    def names(name: str) -> set[str]:
        return set(re.findall(r"^([A-Z_]+)=", (ROOT / name).read_text(), re.M))

    assert names(".env.dev.example") == names(".env.prod.example")


@pytest.mark.parametrize(
    ("compose", "env"),
    [
        ("docker-compose.yml", ".env.dev.example"),
        ("docker-compose.prod.yml", ".env.prod.example"),
        ("docker-compose.test.yml", ".env.dev.example"),
    ],
)
def test_compose_file_is_valid(compose, env, tmp_path):
    shutil.copy(ROOT / env, tmp_path / ".env")
    result = subprocess.run(
        [
            str(BIN / "docker-compose"),
            "--project-directory",
            str(tmp_path),
            "-f",
            str(ROOT / compose),
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_dockerfile_passes_hadolint():
    result = subprocess.run(
        [str(BIN / "hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_makefile_has_every_target_the_readme_promises():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, re.M))
    promised = {
        "help",
        "setup",
        "up",
        "down",
        "logs",
        "shell",
        "migrate",
        "format",
        "format-check",
        "lint",
        "lint-fix",
        "test",
        "up-prod",
        "run",
        "demo",
        "cli",
    }
    assert promised - targets == set()
