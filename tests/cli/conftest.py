"""Fixtures shared by the CLI tests."""

from tests.dvc_tool import dvc_bin, dvc_env

__all__ = ["dvc_bin", "dvc_env"]
