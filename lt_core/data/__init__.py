"""Data: motion capture readers and retargeting, datasets."""
