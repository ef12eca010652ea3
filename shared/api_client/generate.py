"""Regenerates the typed clients' generated files from the API's OpenAPI document.

`make types` runs it. Three files come out of one document: the document itself
(`shared/openapi.json`), the pydantic models that `client.py` speaks in
(`shared/api_client/models.py`, by datamodel-code-generator, a dev extra) and the TypeScript
types of the dashboard (`shared/typescript/api.d.ts`, by openapi-typescript, pinned in
`shared/typescript/package-lock.json`). Both generators run offline: openapi-typescript from the
node_modules that `.ci/bootstrap` installs with `npm ci`, never fetched here.
`tests/shared/test_api_client.py` renders the files from the current app and fails while the
committed ones differ.

The document comes from an app named like uvicorn names one, `module:attribute` (an app with
`.openapi()`, or a factory of one), so that `shared/` imports no control plane of its own
(STYLE.md rule 4): the Makefile names it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "shared" / "openapi.json"
MODELS = ROOT / "shared" / "api_client" / "models.py"
TYPESCRIPT_DIR = ROOT / "shared" / "typescript"
TYPESCRIPT = TYPESCRIPT_DIR / "api.d.ts"
OPENAPI_TYPESCRIPT = TYPESCRIPT_DIR / "node_modules" / ".bin" / "openapi-typescript"
GENERATOR_TIMEOUT_S = 120

MODELS_HEADER = '''"""Pydantic models of the ADSBIN REST API, generated from shared/openapi.json.

Do not edit: `make types` writes this file (shared/api_client/generate.py).
"""'''
# datamodel-code-generator's options: pydantic v2 with Annotated fields, enums as Literal (as the
# control plane's schemas mostly are), and its built-in formatter, so that the output depends on
# the pinned generator only, not on whichever black or ruff a machine has
DATAMODEL_OPTIONS = (
    "--input-file-type", "openapi",
    "--output-model-type", "pydantic_v2.BaseModel",
    "--target-python-version", "3.11",
    "--use-annotated",
    "--strict-nullable",
    "--enum-field-as-literal", "all",
    "--use-double-quotes",
    "--use-schema-description",
    "--collapse-root-models",
    "--collapse-constrained-root-models-as-annotated",
    "--disable-timestamp",
    "--formatters", "builtin",
    "--custom-file-header", MODELS_HEADER,
)


class GeneratorMissing(RuntimeError):
    """A generator is not installed (the bootstrap installs both)."""


def document_text(document: Mapping[str, Any]) -> str:
    """The document as committed: indented JSON in the app's own key order."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def python_models(document_path: Path) -> str:
    """The pydantic models of the document at `document_path`."""
    try:
        import datamodel_code_generator  # noqa: F401 - only to say what is missing
    except ImportError as exc:
        raise GeneratorMissing("datamodel-code-generator is missing: install the dev extras "
                               "(bash .ci/bootstrap)") from exc
    return _run([sys.executable, "-m", "datamodel_code_generator", "--input",
                 str(document_path), *DATAMODEL_OPTIONS], cwd=document_path.parent)


def typescript_types(document_path: Path) -> str:
    """The TypeScript types of the document at `document_path`."""
    if not OPENAPI_TYPESCRIPT.exists():
        raise GeneratorMissing(f"{OPENAPI_TYPESCRIPT.relative_to(ROOT)} is missing: run "
                               "`bash .ci/bootstrap` (npm ci in shared/typescript)")
    # cwd: the package, so that no redocly.yaml from elsewhere changes the output
    return _run([str(OPENAPI_TYPESCRIPT), str(document_path)], cwd=TYPESCRIPT_DIR)


def _run(command: Sequence[str], *, cwd: Path) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True,  # noqa: S603
                            timeout=GENERATOR_TIMEOUT_S, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name} failed ({result.returncode}):\n"
                           f"{result.stderr.strip()}")
    return result.stdout


def render(document: Mapping[str, Any]) -> dict[Path, str]:
    """Each generated file and what it should hold for this document."""
    text = document_text(document)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "openapi.json"
        path.write_text(text, encoding="utf-8")
        with ThreadPoolExecutor(max_workers=2) as pool:  # two processes, side by side
            models = pool.submit(python_models, path)
            types = pool.submit(typescript_types, path)
            return {OPENAPI: text, MODELS: models.result(), TYPESCRIPT: types.result()}


def stale(document: Mapping[str, Any]) -> list[Path]:
    """The generated files that differ from what this document makes."""
    return [path for path, text in render(document).items()
            if not path.exists() or path.read_text(encoding="utf-8") != text]


def app_document(spec: str) -> dict[str, Any]:
    """The OpenAPI document of the app named `module:attribute` (an app, or a factory)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--app wants module:attribute, not {spec!r}")
    app: Any = getattr(importlib.import_module(module_name), attribute)
    if not hasattr(app, "openapi") and callable(app):
        app = app()
    document: dict[str, Any] = app.openapi()
    return document


def main(argv: Sequence[str] | None = None) -> int:
    """Write the generated files (or, with --check, say which are out of date)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", required=True, help="module:attribute of the app, or its "
                        "factory, e.g. control_plane.app:create_app")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a "
                        "generated file is out of date")
    args = parser.parse_args(argv)
    document = app_document(args.app)
    if args.check:
        out_of_date = stale(document)
        for path in out_of_date:
            print(f"out of date: {path.relative_to(ROOT)} (run `make types`)")
        return 1 if out_of_date else 0
    for path, text in render(document).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
