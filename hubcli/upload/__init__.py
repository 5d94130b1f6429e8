"""Uploads: planning what to send, hashing (remembered), LFS transfers and commits."""
