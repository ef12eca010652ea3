"""Typed access to the ADSBIN REST API: `client.ApiClient` (hand-written) over `models`
(generated from the control plane's OpenAPI document by `make types`, with `generate.py`,
which also writes `shared/openapi.json` and the TypeScript types, `shared/typescript/api.d.ts`).

Nothing is imported here, so that `generate.py` runs even where `models.py` is missing.
"""
