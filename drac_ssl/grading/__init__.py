"""The trained grader and inference, without any training code.

* :mod:`drac_ssl.grading.model`: the grading model (input format, heads, backbone + head,
  its spec, calibration and the class decision, the grading loss);
* :mod:`drac_ssl.grading.bundle`: the model bundle (format, build, load, metadata, card);
* :mod:`drac_ssl.grading.predict`: preprocessing, flip TTA, the fold ensemble.

The export stage, the app and the benches use these; none of them imports the
cross-validation loop (:mod:`drac_ssl.finetune`) or the SSL stages.
"""
