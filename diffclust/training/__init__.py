"""Training and evaluation of one run: `train_and_evaluate(cfg, run_dir)`."""
