"""HTTP layer: blueprints that parse input, call a service, commit, and render."""
