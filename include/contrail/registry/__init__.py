"""The model registry: MLflow set-up, the promotion gate, the promotion lock and ledger, promotion and rollback."""
