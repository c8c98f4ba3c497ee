"""Built-in caption backends. Each registers through the same entry-point
group a third-party plugin would use (see pyproject.toml)."""
