"""The image protection pipeline (ingest, perturb, watermark, metadata, derivatives, report).

Pure functions on bytes and arrays; knows nothing of GraphQL, HTTP, S3 or the database.
"""
