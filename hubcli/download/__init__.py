"""Downloads: planning a revision, running the plan into the cache or a local folder, and
repairing a cache (a download of chosen blobs).
"""
