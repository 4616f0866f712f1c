"""Optional 2D pose detectors whose weights ship inside their Python wheels (nothing is downloaded at run time)."""
