"""Examples of plugging a search method of your own into hwenvs."""
