"""Data and model validation gates.

- :mod:`~ntl_spark.validate.stats`: statistics per table and column, computed in
  Spark and kept per run in the ``data_stats`` Delta table;
- :mod:`~ntl_spark.validate.rules`: consistency rules from config with warn/block levels;
- :mod:`~ntl_spark.validate.drift`: population stability index (PSI) between the
  training set, its validation split and the scoring month;
- :mod:`~ntl_spark.validate.data`: the data gate (stats + rules + drift + report);
- :mod:`~ntl_spark.validate.model`: the model gate (challenger vs champion, blessing);
- :mod:`~ntl_spark.validate.segments`: a registered model's metrics per segment;
- :mod:`~ntl_spark.validate.runs`: PR/ROC curves of several training runs from MLflow;
- :mod:`~ntl_spark.validate.report`: the HTML reports.
"""
