"""The application layer: CLI, demo, benchmarks, figures and recipes wiring the three packages."""
