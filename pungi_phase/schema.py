"""The JSON schema fragment of the phase's options, in pungi/checks.py's
dialect (Draft 4, ``"type": "regex"`` for variant patterns,
``_variant_arch_mapping`` for per-variant/arch values), and a validator
that reports problems the way ``pungi.checks.validate`` does
(``Failed validation in OPTION.PATH: message``).

With Pungi installed the entry point merges :data:`PROPERTIES` into
``pungi.checks.make_schema()``, so ``pungi-koji`` itself validates them
before the compose starts; :func:`validate` is the same check without
Pungi (and is what :meth:`StrataPhase.validate` runs).
"""

import re

STRICTNESS = ("off", "lenient", "strict", "fatal")
DEFAULT_STRICTNESS = "lenient"


def _variant_arch_mapping(value):
    # The shape of pungi.checks._variant_arch_mapping: a list of
    # (variant regex, {arch or "*": value}) pairs.
    return {
        "type": "array",
        "items": {
            "type": "array",
            "items": [
                {"type": "regex"},
                {
                    "type": "object",
                    "patternProperties": {".+": value},
                    "additionalProperties": False,
                },
            ],
            "additionalItems": False,
            "minItems": 2,
        },
        "default": [],
    }


# {variant regex: {arch or "*": [definition paths] or a strata-release path}}
_DEFINITIONS = {
    "type": "object",
    "patternProperties": {
        ".+": {
            "type": "object",
            "patternProperties": {
                ".+": {
                    "anyOf": [
                        {"type": "array", "items": {"type": "string", "minLength": 1}},
                        {"type": "string", "minLength": 1},
                    ]
                },
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

PROPERTIES = {
    "strata_modules": _DEFINITIONS,
    # strata-artifact definitions: each built per variant and arch listed,
    # into the variant's iso/ or images/ and images.json.
    "strata_artifacts": _DEFINITIONS,
    "strata_registry": {"type": "string", "minLength": 1},
    "strata_config": {"type": "string", "minLength": 1},
    "strata_out": {"type": "string", "minLength": 1},
    "strata_cache_dir": {"type": "string", "minLength": 1},
    "strata_repoclosure_strictness": _variant_arch_mapping(
        {"type": "string", "default": DEFAULT_STRICTNESS, "enum": list(STRICTNESS)}
    ),
}


def schema():
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "Strata phase options",
        "type": "object",
        "properties": PROPERTIES,
    }


def _validator():
    import jsonschema

    base = jsonschema.Draft4Validator
    checker = base.TYPE_CHECKER.redefine_many(
        {
            "regex": lambda _c, v: isinstance(v, str),
            "array": lambda _c, v: isinstance(v, (list, tuple)),
        }
    )
    return jsonschema.validators.extend(base, type_checker=checker)(schema())


def _regex_problem(pattern):
    try:
        re.compile(pattern)
    except re.error as exc:
        return "incorrect regular expression %r: %s" % (pattern, exc)
    return None


def pattern_problems(conf):
    """The problems Pungi's own checks cannot see: the variant patterns
    that are keys of ``strata_modules`` and ``strata_artifacts`` (Pungi
    compiles only values of
    type ``regex``), as ``checks.validate`` words a bad regex."""
    errors = []
    for option in ("strata_modules", "strata_artifacts"):
        listed = conf.get(option)
        if not isinstance(listed, dict):
            continue
        for pattern in listed:
            p = _regex_problem(pattern)
            if p:
                errors.append("Failed validation in %s: %s" % (option, p))
    return errors


def validate(conf):
    """Every problem of the ``strata_*`` options of ``conf``, as Pungi
    words them; an empty list when they are valid."""
    subset = {k: v for k, v in conf.items() if k in PROPERTIES}
    errors = []
    for error in sorted(_validator().iter_errors(subset), key=lambda e: list(map(str, e.path))):
        errors.append(
            "Failed validation in %s: %s" % (".".join(str(x) for x in error.path), error.message)
        )
    if errors:
        return errors
    errors.extend(pattern_problems(subset))
    for i, (pattern, _arches) in enumerate(subset.get("strata_repoclosure_strictness", [])):
        p = _regex_problem(pattern)
        if p:
            errors.append("Failed validation in strata_repoclosure_strictness.%d.0: %s" % (i, p))
    return errors
