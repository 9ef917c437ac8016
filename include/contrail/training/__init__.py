"""Training: the window of feature days, the model, its tuning, its evaluation and its MLflow run."""
