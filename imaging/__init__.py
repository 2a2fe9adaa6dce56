"""The image protection pipeline (ingest, perturb, watermark, metadata, derivatives, report).

Pure functions on bytes and arrays; knows nothing of GraphQL, HTTP, S3 or the database.

Entry points: `imaging.pipeline.protect` (one upload in, the files to publish and their report
out) and `imaging.pipeline.identify` (the asset id read back from a file). One module per stage:
`ingest`, `perturb` (with `style` and `jnd`), `watermark` (with `tiling`), `metadata`,
`derivatives`, `report`; `planes` holds the array helpers and `errors` the exception tree.
"""
