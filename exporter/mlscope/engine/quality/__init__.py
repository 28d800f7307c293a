"""Model quality with delayed labels: the label join, the windowed tracker, reference quality.

=================  ==============================================================
``join``           the label store: predictions waiting for their ground truth
``encoding``       ids, labels and classes as match keys, class codes and floats
``tracker``        ``QualityTracker``: one model's labels joined and counted
``windowed``       the tracker's window rings and the figures read off them
``counters``       the cumulative label, delay, confusion and residual counts
``families``       the quality families of one model, per the catalogue
``reference``      the quality figures of a validation set (the profile's baseline)
``classification`` accuracy, F1, ROC AUC, log loss, calibration from mergeable counts
``regression``     MAE, RMSE, MAPE, R² from mergeable sums
``estimation``     accuracy estimated from confidence, before labels come
``attribution``    how much each feature's bin explains the errors
=================  ==============================================================

Import from the module that holds a name (``mlscope.engine.quality.tracker``).
"""
