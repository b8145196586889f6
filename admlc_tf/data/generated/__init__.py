"""Generated data sets: made on the user's machine, never downloaded."""
