"""Helpers shared by the test modules (imported as `tests.support.…`, never from conftest.py
or from another test module, so each class exists once)."""
