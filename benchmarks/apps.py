from django.apps import AppConfig


class BenchmarksConfig(AppConfig):
    """Benchmark tooling, not a clinic feature: only the generate_data command (no models, no pages)."""

    name = "benchmarks"
