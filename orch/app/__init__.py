"""The application layer: one session that wires a run, one runner, one place that logs it."""
