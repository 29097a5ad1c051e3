"""Fixtures for the channel tests: real mail servers on loopback."""
