"""The launcher: settings (one table, one precedence), the one resolver of a run's RunSpec,
one module per target behind one router, the shared launch steps, records, prompts, doctor."""
