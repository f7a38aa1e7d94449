"""A fresh user's photographs whose patient-grouped folds leave grades out of folds (shared by
the fold, report and preflight tests; tests/helpers is on the test path)."""

ICDR = ("No DR", "Mild", "Moderate", "Severe", "PDR")

# a fresh user's 25 photographs: 13 patients, 5 images and 3 patients per ICDR grade (P02 and
# P07 have eyes of two grades), in the manifest's order (the natural sort of the file names)
REVIEWER_GRADES = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4]
REVIEWER_PATIENTS = ["P00", "P00", "P01", "P01", "P02", "P02", "P03", "P03", "P04", "P04", "P05",
                     "P05", "P06", "P06", "P07", "P07", "P08", "P08", "P09", "P09", "P10", "P10",
                     "P11", "P11", "P12"]
# the folds the ingest made of them (runs/tiny-kill/data/manifest.csv); they must not change
REVIEWER_FOLDS = [0, 0, 2, 2, 1, 1, 2, 2, 1, 1, 1, 1, 0, 0, 2, 2, 2, 2, 0, 0, 1, 1, 0, 0, 2]
