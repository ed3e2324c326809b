"""Root conftest: the acceptance suite's fixtures live in fixtures/ and are loaded as plugins."""

pytest_plugins: list[str] = []
