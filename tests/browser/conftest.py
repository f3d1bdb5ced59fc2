"""The workbench and residents' page tests' fixtures (defined in desk_support)."""

from tests.browser.desk_support import browser, chromium_path, desk_stack

__all__ = ["browser", "chromium_path", "desk_stack"]
