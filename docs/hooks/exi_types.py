"""MkDocs hook: a page per EXI schema set, from the generated message classes.

`generated/exi/xsd_<schema>.py` (written by the EXI importer) defines each XSD type once: one
TypedDict per complex type and a Literal alias per enumeration, shared by every schema set
that uses it. This hook reads those files as source (no import, so the build needs no C
extension) and adds `exi/types/<set>.md` to the site: the types the set's own schema
defines, with their fields, whether they are required, and their types linked to one
another across pages (ISO-20's AC and DC types refer to the common ones, and every set's
signatures to xmldsig). The pages exist in the built site only; nothing is written into docs/.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

GENERATED = Path(__file__).resolve().parents[2] / "generated" / "exi"
# page -> the modules whose types it shows; the fragment sets use these same types
PAGES = {
    "app": ("xsd_app",),
    "din": ("xsd_din",),
    "iso2": ("xsd_iso2",),
    "iso20": ("xsd_iso20_common_messages", "xsd_iso20_common_types"),
    "iso20_ac": ("xsd_iso20_ac",),
    "iso20_dc": ("xsd_iso20_dc",),
    "iso20_acdp": ("xsd_iso20_acdp",),
    "iso20_wpt": ("xsd_iso20_wpt",),
    "xmldsig": ("xsd_xmldsig",),
}


class Module:
    """One xsd_<schema>.py read as source: its classes (documents left out) and aliases."""

    def __init__(self, name: str) -> None:
        tree = ast.parse((GENERATED / f"{name}.py").read_text())
        self.enums: dict[str, list[str]] = {}
        self.classes: list[ast.ClassDef] = []
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Subscript):
                target = node.targets[0]
                values = node.value.slice
                items = values.elts if isinstance(values, ast.Tuple) else [values]
                if isinstance(target, ast.Name):
                    self.enums[target.id] = [str(ast.literal_eval(item)) for item in items]
            elif isinstance(node, ast.ClassDef) and not node.name.startswith("Document_"):
                self.classes.append(node)


def on_files(files: Files, config: MkDocsConfig, **_: Any) -> Files:
    modules = {m: Module(m) for names in PAGES.values() for m in names}
    page_of = {m: page for page, names in PAGES.items() for m in names}
    pages = {name: page(name, names, modules, page_of) for name, names in PAGES.items()}
    lines = [
        "# EXI message types",
        "",
        "The types of each schema set as `evstack.exi` encodes and decodes them (dicts in",
        "the JSON form of [the codec's page](../../exi.md)), read from `generated/exi/`.",
        "The fragment sets use the same types; xmldsig's are those of the signatures.",
        "",
        "| schema | types |",
        "|---|---|",
    ]
    lines += [
        f"| [{name}]({name}.md) | {text.count(chr(10) + '## ')} |" for name, text in pages.items()
    ]
    files.append(File.generated(config, "exi/types/index.md", content="\n".join(lines) + "\n"))
    for name, text in pages.items():
        files.append(File.generated(config, f"exi/types/{name}.md", content=text))
    return files


def page(
    name: str, sources: tuple[str, ...], modules: dict[str, Module], page_of: dict[str, str]
) -> str:
    classes = [(m, cls) for m in sources for cls in modules[m].classes]
    files = ", ".join(f"`{m}.py`" for m in sources)
    out = [f"# EXI types: {name}", "", f"{len(classes)} types, from {files}.", ""]
    for module, cls in classes:
        out += [f"## {cls.name}", "", "| field | type | required |", "|---|---|---|"]
        total = not any(k.arg == "total" and not ast.literal_eval(k.value) for k in cls.keywords)
        for item in cls.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                shown, required = annotation(item.annotation, total)
                text = link(shown, module, name, modules, page_of)
                out.append(f"| `{item.target.id}` | {text} | {required} |")
        out.append("")
    return "\n".join(out)


def annotation(node: ast.expr, total: bool) -> tuple[str, str]:
    """The field's type as source text, and whether the field must be present."""
    text = ast.unparse(node).replace("'", "").replace('"', "")
    for marker, required in (("Required[", "yes"), ("NotRequired[", "no")):
        if text.startswith(marker):
            return text[len(marker) : -1], required
    return text, "yes" if total else "no"


def link(
    text: str, module: str, here: str, modules: dict[str, Module], page_of: dict[str, str]
) -> str:
    """Type names linked to their sections (on this page or another); an enumeration shown
    by its values. A name from another module is written `xsd_<schema>.Name`."""
    words = text.replace("[", " ").replace("]", " ").replace(",", " ").replace("|", " ").split()
    for word in words:
        owner, _, name = word.rpartition(".")
        owner = owner or module
        if owner not in modules:
            continue
        if word == text and name in modules[owner].enums:
            return "one of " + ", ".join(f"`{v}`" for v in modules[owner].enums[name])
        if any(cls.name == name for cls in modules[owner].classes):
            target = page_of[owner]
            prefix = "" if target == here else f"{target}.md"
            return text.replace(word, f"[{name}]({prefix}#{name.lower()})")
    return f"`{text}`"
