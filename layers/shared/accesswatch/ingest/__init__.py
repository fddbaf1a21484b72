"""Reading access-log and reference files: formats, streaming, validation, partitions."""
