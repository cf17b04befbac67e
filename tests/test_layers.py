"""The layers point one way (pyproject.toml's import-linter contracts): an import that points up fails here."""
import logging
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def test_imports_point_down_the_layers(monkeypatch):
    monkeypatch.chdir(ROOT)
    enabled = [logger for logger in logging.root.manager.loggerDict.values()
               if isinstance(logger, logging.Logger) and not logger.disabled]
    try:
        assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0
    finally:   # its logging set-up disables every logger that exists (the tests after it log and print)
        for logger in enabled:
            logger.disabled = False
