"""Feature-vector data: the file formats and the paper's protocol splits."""
