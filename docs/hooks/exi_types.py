"""MkDocs hook: a page per EXI schema set, from the generated message classes.

`generated/exi/types_<set>.py` (written by the EXI importer) holds one TypedDict per XSD type
of the set and a Literal alias per enumeration. This hook reads those files as source (no
import, so the build needs no C extension) and adds `exi/types/<set>.md` to the site: each
type with its fields, whether they are required, and their types linked to one another.
The pages exist in the built site only; nothing is written into docs/.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

GENERATED = Path(__file__).resolve().parents[2] / "generated" / "exi"
# The message sets; fragments are parts of iso2 and xmldsig signed for certificates.
SETS = ("app", "din", "iso2", "iso20", "iso20_ac", "iso20_dc", "iso20_acdp", "iso20_wpt")


def on_files(files: Files, config: MkDocsConfig, **_: Any) -> Files:
    pages = {name: page(name, GENERATED / f"types_{name}.py") for name in SETS}
    lines = [
        "# EXI message types",
        "",
        "The types of each schema set as `evstack.exi` encodes and decodes them (dicts in",
        "the JSON form of [the codec's page](../../exi.md)), read from `generated/exi/`.",
        "",
        "| schema set | types |",
        "|---|---|",
    ]
    lines += [
        f"| [{name}]({name}.md) | {text.count(chr(10) + '## ')} |" for name, text in pages.items()
    ]
    files.append(File.generated(config, "exi/types/index.md", content="\n".join(lines) + "\n"))
    for name, text in pages.items():
        files.append(File.generated(config, f"exi/types/{name}.md", content=text))
    return files


def page(name: str, source: Path) -> str:
    tree = ast.parse(source.read_text())
    enums: dict[str, list[str]] = {}
    classes: list[ast.ClassDef] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Subscript):
            target = node.targets[0]
            values = node.value.slice
            items = values.elts if isinstance(values, ast.Tuple) else [values]
            if isinstance(target, ast.Name):
                enums[target.id] = [str(ast.literal_eval(item)) for item in items]
        elif isinstance(node, ast.ClassDef):
            classes.append(node)
    known = {c.name for c in classes}
    out = [f"# EXI types: {name}", "", f"{len(classes)} types, from `{source.name}`.", ""]
    for cls in classes:
        out += [f"## {cls.name}", "", "| field | type | required |", "|---|---|---|"]
        total = not any(k.arg == "total" and not ast.literal_eval(k.value) for k in cls.keywords)
        for item in cls.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                shown, required = annotation(item.annotation, total)
                out.append(f"| `{item.target.id}` | {link(shown, known, enums)} | {required} |")
        out.append("")
    return "\n".join(out)


def annotation(node: ast.expr, total: bool) -> tuple[str, str]:
    """The field's type as source text, and whether the field must be present."""
    text = ast.unparse(node).replace("'", "").replace('"', "")
    for marker, required in (("Required[", "yes"), ("NotRequired[", "no")):
        if text.startswith(marker):
            return text[len(marker) : -1], required
    return text, "yes" if total else "no"


def link(text: str, known: set[str], enums: dict[str, list[str]]) -> str:
    """Type names linked to their sections; an enumeration shown by its values."""
    if text in enums:
        return "one of " + ", ".join(f"`{v}`" for v in enums[text])
    for name in sorted(known, key=len, reverse=True):
        if name in text.replace("[", " ").replace("]", " ").replace(",", " ").split():
            return text.replace(name, f"[{name}](#{name.lower()})")
    return f"`{text}`"
