"""Suite files: YAML with lines, the format's models, discovery, the metrics catalog, collection."""
