"""The house's layering (pyproject's [tool.importlinter]) holds, and would catch a crossing."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_project_keeps_its_layers() -> None:
    run = lint_imports(REPO)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_the_contract_catches_the_online_path_importing_the_simulator(tmp_path: Path) -> None:
    # The project's own contract, over stand-in packages of the same names where
    # autoscaler imports simulations (they shadow the real ones through PYTHONPATH).
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    for package in config["root_packages"]:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "autoscaler" / "planner.py").write_text("import simulations.runner\n")
    (tmp_path / "simulations" / "runner.py").write_text("")
    layers = ", ".join(f'"{layer}"' for layer in config["contracts"][0]["layers"])
    roots = ", ".join(f'"{package}"' for package in config["root_packages"])
    (tmp_path / "pyproject.toml").write_text(
        f"[tool.importlinter]\nroot_packages = [{roots}]\n\n"
        f'[[tool.importlinter.contracts]]\nname = "one way"\ntype = "layers"\n'
        f"layers = [{layers}]\n"
    )
    run = lint_imports(tmp_path, pythonpath=tmp_path)
    assert run.returncode != 0, run.stdout
    assert "autoscaler.planner -> simulations.runner" in run.stdout


def test_the_console_script_imports_a_command_only_when_it_runs() -> None:
    probe = (
        "import sys; from prewarm_cli import app; from typer.testing import CliRunner;"
        "result = CliRunner().invoke(app, ['--help']); assert result.exit_code == 0;"
        "print(sorted({m.split('.')[0] for m in sys.modules"
        " if m.split('.')[0] in ('simulations', 'scheduler', 'matplotlib', 'statsmodels')}))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
