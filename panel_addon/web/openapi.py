"""The OpenAPI description of every HTTP endpoint (`openapi.yaml`), served as JSON and YAML."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml
from flask import Blueprint, Response, jsonify

bp = Blueprint("openapi", __name__)


@functools.cache
def source() -> str:
    """The description as written (package data, so it ships with `pip install .`)."""
    return resources.files(__package__).joinpath("openapi.yaml").read_text(encoding="utf-8")


@functools.cache
def spec() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(source())
    return document


@bp.get("/openapi.json")
def as_json() -> Response:
    return jsonify(spec())


@bp.get("/openapi.yaml")
def as_yaml() -> Response:
    return Response(source(), mimetype="application/yaml")
