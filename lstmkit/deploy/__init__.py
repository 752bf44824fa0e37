"""The inference path: saved models, export and serving. Imports no training framework."""
