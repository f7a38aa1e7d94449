"""Ingest graded retinal images (the official DRAC 2022 layout, APTOS 2019, EyePACS, IDRiD,
DeepDRiD, Messidor-2, a MedMNIST .npz, or a plain folder + CSV), decode and validate every file, cache resized
copies (grey or RGB) and write a manifest with folds stratified over the K grades; and
generate the embedded phantom UW-OCTA data."""
