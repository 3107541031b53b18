"""The test suite, a package so test modules can share helpers (``from tests.smtpserver import ...``)."""

import pytest

# Helper modules that test files import before pytest loads them as plugins still get assertion rewriting.
pytest.register_assert_rewrite("tests.smtpserver", "tests.delivery_helpers")
