"""The embedded runtime's adapters of moto, one module per AWS service (docs/local-runtime.md says why each exists)."""
