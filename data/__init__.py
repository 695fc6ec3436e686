"""Task datasets (loaders for real files and generators), the example/batch contract, collation, caching."""
