"""Use cases behind the handlers: each takes plain values and data-access objects, returns a result."""
