"""The Hugging Face cache on disk: layout, scan, links, listing, cleaning, verification and
bundles. Nothing here touches the network (repair, a download of chosen blobs, is in download/).
"""
