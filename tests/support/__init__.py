"""Fakes and helpers the test suites share and people can run (wire formats, fake servers, socket helpers)."""
