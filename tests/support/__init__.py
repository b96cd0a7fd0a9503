"""Helpers the tests share: test-only code that is not itself a test module.

pytest puts tests/ on ``sys.path`` (its default ``prepend`` import mode, for the test modules
and tests/conftest.py, which sit in a folder without ``__init__.py``), so the tests import these
as ``support.<module>``. No file here is named ``test_*.py``, and tests/conftest.py tells pytest
not to collect from this folder.
"""
