"""Reproducible repos: the input (hubcli.toml), the lock (hubcli.lock), locking and sync.

:mod:`hubcli.lock.lockfile` is the lock's format; the other modules build on it.
"""
