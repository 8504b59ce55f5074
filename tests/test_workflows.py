"""The repository's CI on its host (.github/workflows), checked offline: each workflow against
GitHub's workflow schema (check-jsonschema's vendored copy: no network), its shell steps parse,
and each does the job it is there for. actionlint, where installed, lints them too."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


@pytest.mark.slow  # check-jsonschema in a subprocess
def test_every_workflow_matches_githubs_schema():
    pytest.importorskip("check_jsonschema", reason="pip install -e '.[test]' (check-jsonschema)")
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} == {"tests.yml", "colab-weekly.yml", "publish.yml"}
    run = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                          "vendor.github-workflows", *map(str, files)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.slow  # check-jsonschema in a subprocess
def test_the_schema_check_catches_a_broken_workflow(tmp_path):
    pytest.importorskip("check_jsonschema", reason="pip install -e '.[test]' (check-jsonschema)")
    broken = tmp_path / "broken.yml"
    broken.write_text((WORKFLOWS / "tests.yml").read_text().replace("runs-on:", "runs_on:"))
    run = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                          "vendor.github-workflows", str(broken)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0


@pytest.mark.parametrize("name", ["tests.yml", "colab-weekly.yml", "publish.yml"])
def test_every_shell_step_parses(name):
    for step in steps(load(name)):
        if "run" in step:
            check = subprocess.run(["bash", "-n", "-c", step["run"]], capture_output=True,
                                   text=True)
            assert check.returncode == 0, f"{name}, step {step.get('name')}: {check.stderr}"


def test_push_and_pull_requests_run_this_repositorys_ci():
    wf = load("tests.yml")
    assert {"push", "pull_request"} <= set(wf["on"])
    checkout = next(s for s in steps(wf) if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # the speed page reads git history
    assert any(s.get("run", "").strip() == "bash .ci/run" for s in steps(wf))
    assert (ROOT / ".ci" / "run").is_file()


def test_every_notebook_runs_weekly_in_colabs_runtime_image():
    wf = load("colab-weekly.yml")
    assert "schedule" in wf["on"]
    cron = wf["on"]["schedule"][0]["cron"].split()
    assert cron[2:4] == ["*", "*"] and cron[4] != "*"  # once a week
    runs = "\n".join(s.get("run", "") for s in steps(wf))
    assert "colab-images/public/runtime:latest" in runs and ".ci/colab-notebooks" in runs
    assert any(s.get("if", "").startswith("failure()") for s in steps(wf))  # loudly
    script = (ROOT / ".ci" / "colab-notebooks").read_text()
    assert 'glob("*.ipynb")' in script and "zh_CN" in script and "--no-deps" in script
    assert subprocess.run(["bash", "-n", str(ROOT / ".ci" / "colab-notebooks")]).returncode == 0


def test_a_tag_builds_the_book_and_publishes_it():
    wf = load("publish.yml")
    assert wf["on"]["push"]["tags"] == ["v*"]
    assert wf["permissions"]["pages"] == "write" and wf["permissions"]["id-token"] == "write"
    build = wf["jobs"]["build"]["steps"]
    assert any("make book" in s.get("run", "") for s in build)
    assert any(s.get("uses", "").startswith("actions/upload-pages-artifact@") and
               s["with"]["path"] == "_build/html" for s in build)
    deploy = wf["jobs"]["deploy"]
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert deploy["steps"][0]["uses"].startswith("actions/deploy-pages@")


def test_actionlint_where_installed():
    """actionlint (a Go program) is not on the package registries as a wheel; with it on the
    PATH (go install github.com/rhysd/actionlint/cmd/actionlint@latest) it lints these too."""
    if shutil.which("actionlint") is None:
        pytest.skip("actionlint is not installed: the schema and the checks above still ran")
    run = subprocess.run(["actionlint", *map(str, sorted(WORKFLOWS.glob("*.yml")))],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
