"""``napari-scdl models [NAME]``: the registered models, their parameters and outputs."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    p = sub.add_parser(
        "models",
        help="list the models `napari-scdl run` can train, with their parameters",
        description="List every registered model: name, description, citation, the keys it "
        "writes and each parameter with its default and help. Parameters are set with "
        "`napari-scdl run MODEL INPUT --param key=value`.",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="show only this model")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def describe(model_cls) -> dict:
    """A plain description of a registered model class."""
    return {
        "name": model_cls.name,
        "description": model_cls.description,
        "citation": model_cls.citation,
        "spatial": bool(model_cls.spatial),
        "default_key": model_cls.default_key or model_cls.name,
        "writes": list(model_cls.writes),
        "params": [
            {
                "name": p.name,
                "default": p.default,
                "type": p.type.__name__,
                "help": p.help,
                **({"choices": list(p.choices)} if p.choices else {}),
                **({"min": p.min} if p.min is not None else {}),
                **({"max": p.max} if p.max is not None else {}),
            }
            for p in model_cls.params
        ],
    }


def format_text(info: dict) -> str:
    lines = [f"{info['name']}: {info['description']}"]
    if info["citation"]:
        lines.append(f"  cite: {info['citation']}")
    lines.append(f"  needs spatial coordinates: {'yes' if info['spatial'] else 'no'}")
    key = info["default_key"]
    if info["writes"]:
        lines.append("  writes: " + ", ".join(w.replace("{key}", key) for w in info["writes"]))
    lines.append("  params:")
    for p in info["params"]:
        extra = f" (one of {', '.join(map(str, p['choices']))})" if "choices" in p else ""
        lines.append(f"    {p['name']}={p['default']!s:<8} {p['help']}{extra}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..models import get_model, list_models

    classes = [get_model(args.name)] if args.name else list(list_models().values())
    infos = [describe(c) for c in sorted(classes, key=lambda c: c.name)]
    if args.json:
        print(json.dumps(infos, indent=2, default=str))
    else:
        print("\n\n".join(format_text(i) for i in infos))
    return 0
