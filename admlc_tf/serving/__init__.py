"""Serving an exported predictor: the export (`export`), the one reader of an export's assets
and signatures (`exported.ExportedPredictor`), audio tagging in bounded memory (`audio`,
`streaming`, `timeline`), image tagging (`images`), what tagging writes (`outputs`), and the
dispatch on what an export takes (`tagging.tag_files`, what `predict.py` runs)."""
