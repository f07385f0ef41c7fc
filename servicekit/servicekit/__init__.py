"""The platform code both services share: see servicekit/README.md for where each concern lives."""
