"""Shared by the tests: a strict JSON parser (what jq and JavaScript accept: no NaN, no Infinity)."""

import json


def strict_json(text: str):
    def no_constant(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=no_constant)
