"""Data set layouts: which layout a folder holds, and the reader of each, audio and images alike."""
