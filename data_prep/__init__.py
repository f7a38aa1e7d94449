"""Ingest 1024 px UW-OCTA images (official DRAC layout or a plain folder + CSV), validate
every file, cache resized copies and write a manifest with stratified folds; and generate
the embedded phantom UW-OCTA data."""
