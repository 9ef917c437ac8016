"""Local Spark for the local profile: one long-lived Spark Connect server shared by all tasks."""
