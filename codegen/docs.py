"""`ev-codegen docs`: Markdown API reference, one page per interface, type file, error
file and module, cross-linked, with MQTT topics and payload schemas.

Topic names come from the runtime's own `Topics`, so the pages cannot drift from the code.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from evstack.codegen.naming import identifier, module_file_name
from evstack.codegen.render import (
    DEFAULT_VAR_QOS,
    DOCS_HEADER_PREFIX,
    error_class_name,
    interface_api,
    interface_class_names,
    module_class_names,
    template_environment,
)
from evstack.manifest import ConfigItem, Interface, ManifestTree, ModuleManifest
from evstack.manifest.model import parse_type_ref
from evstack.runtime.wire import Topics

__all__ = ["render_docs"]

_TOPICS = Topics("<prefix>")
_CONSTRAINT_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
                    "maxLength", "pattern", "enum", "minItems", "maxItems")  # fmt: skip


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _para(text: str) -> str:
    """Paragraphs kept; a line break inside one (EVerest lists enum values one a line)
    becomes a Markdown hard break."""
    parts = re.split(r"\n\s*\n", str(text).strip())
    return "\n\n".join(
        "\\\n".join(" ".join(line.split()) for line in part.splitlines() if line.strip())
        for part in parts
        if part.strip()
    )


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _clean(schema: Mapping[str, Any]) -> dict[str, Any]:
    return dict(schema)


def _type_link(schema: Mapping[str, Any]) -> str:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        file_name, type_name = parse_type_ref(ref)
        return f"[{type_name}](../types/{file_name}.md#{type_name.lower()})"
    kind = schema.get("type", "any")
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        return f"array of {_type_link(schema['items'])}"
    if isinstance(kind, list):
        return " \\| ".join(str(k) for k in kind)
    return str(kind)


def _refs(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        if isinstance(schema.get("$ref"), str):
            yield schema["$ref"]
        for key, value in schema.items():
            if key not in ("enum", "default", "description"):
                yield from _refs(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _refs(item)


def _default_of(item: ConfigItem) -> str:
    return f"`{json.dumps(item.default)}`" if item.has_default else "required"


def _constraints_of(item: ConfigItem) -> str:
    found = [
        f"{key} {json.dumps(item.schema[key])}" for key in _CONSTRAINT_KEYS if key in item.schema
    ]
    return _cell(", ".join(found))


class _InterfaceTopics:
    """Topic patterns of one implementation, with placeholders for the ids."""

    def __init__(self) -> None:
        self._module, self._impl = "<module_id>", "<impl_id>"
        self.reply = _TOPICS.reply("<caller_module_id>", self._module)

    def cmd(self, name: str) -> str:
        return _TOPICS.call(self._module, self._impl, name, "<caller_module_id>")

    def var(self, name: str) -> str:
        return _TOPICS.var(self._module, self._impl, name)

    def error(self, error_type: str) -> str:
        return _TOPICS.error(self._module, self._impl, error_type, "<sub_type>")


def _header(tree: ManifestTree, source: Path | None) -> str:
    what = "the manifest tree" if source is None else tree.relative(source)
    return f"{DOCS_HEADER_PREFIX} from {what}. Do not edit. -->"


def _example_config(tree: ManifestTree, module: ModuleManifest) -> str:
    entry: dict[str, Any] = {"module": module.name}
    required = {c.name: f"<{c.type}>" for c in module.config.values() if not c.has_default}
    if required:
        entry["config_module"] = required
    connections = {}
    for requirement in module.requires.values():
        # Another module that provides the interface, else a second instance of this one.
        providers = sorted(
            (name == module.name, name, impl_id)
            for name, other in tree.modules.items()
            for impl_id, provided in other.provides.items()
            if provided.interface == requirement.interface
        )
        module_id, impl_id = "<module_id>", "<impl_id>"
        if providers:
            itself, name, impl_id = providers[0]
            module_id = module_file_name(name) + ("_2" if itself else "")
        count = max(requirement.min_connections, 1)
        connections[requirement.req_id] = [
            {"module_id": module_id, "implementation_id": impl_id}
        ] * count
    if connections:
        entry["connections"] = connections
    document = {"active_modules": {module_file_name(module.name): entry}}
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False).rstrip("\n")


def render_docs(tree: ManifestTree) -> dict[str, str]:
    """Every page, keyed by POSIX path relative to the docs folder."""
    environment = template_environment()
    environment.filters.update(cell=_cell, para=_para, tojson_pretty=_pretty, type_link=_type_link)

    def render(template: str, **context: Any) -> str:
        text: str = environment.get_template(f"docs/{template}").render(**context)
        while "\n\n\n" in text:
            text = text.replace("\n\n\n", "\n\n")
        return text.rstrip("\n") + "\n"

    used_by: dict[tuple[str, str], set[str]] = defaultdict(set)
    for interface in tree.interfaces.values():
        for ref in _refs([c.arguments for c in interface.cmds.values()]):
            used_by[parse_type_ref(ref)].add(
                f"[{interface.name}](../interfaces/{interface.name}.md)"
            )
        for ref in _refs(
            [c.result for c in interface.cmds.values()]
            + [v.schema for v in interface.vars.values()]
        ):
            used_by[parse_type_ref(ref)].add(
                f"[{interface.name}](../interfaces/{interface.name}.md)"
            )
    for type_file in tree.types.values():
        for type_name, schema in type_file.types.items():
            for ref in _refs(schema):
                target = parse_type_ref(ref)
                if target != (type_file.name, type_name):
                    used_by[target].add(f"[{type_name}]({type_file.name}.md#{type_name.lower()})")

    pages = {
        "index.md": render(
            "index.md.j2",
            header=_header(tree, None),
            interfaces=list(tree.interfaces.values()),
            modules=list(tree.modules.values()),
            types=list(tree.types.values()),
            errors=list(tree.errors.values()),
        )
    }
    providers: dict[str, list[str]] = defaultdict(list)
    for module in tree.modules.values():
        for provided in module.provides.values():
            if module.name not in providers[provided.interface]:
                providers[provided.interface].append(module.name)
    for interface in tree.interfaces.values():
        pages[f"interfaces/{interface.name}.md"] = _interface_page(
            tree, interface, render, providers[interface.name]
        )
    for type_file in tree.types.values():
        refs = {
            name: sorted(
                {
                    f"[{n}]({f}.md#{n.lower()})" if f != type_file.name else f"[{n}](#{n.lower()})"
                    for f, n in (parse_type_ref(r) for r in _refs(schema))
                }
            )
            for name, schema in type_file.types.items()
        }
        pages[f"types/{type_file.name}.md"] = render(
            "types.md.j2",
            header=_header(tree, type_file.path),
            t=type_file,
            source=tree.relative(type_file.path),
            python_module=f"evstack.generated.types.{identifier(type_file.name)}",
            used_by={name: sorted(used_by[(type_file.name, name)]) for name in type_file.types},
            refs=refs,
            clean=_clean,
        )
    for error_file in tree.errors.values():
        pages[f"errors/{error_file.name}.md"] = render(
            "errors.md.j2",
            header=_header(tree, error_file.path),
            e=error_file,
            source=tree.relative(error_file.path),
            python_module=f"evstack.generated.errors.{identifier(error_file.name)}",
            class_name=error_class_name(error_file.name),
        )
    for module in tree.modules.values():
        pages[f"modules/{module.name}.md"] = render(
            "module.md.j2",
            header=_header(tree, module.path),
            m=module,
            source=tree.relative(module.path),
            python_module=f"evstack.generated.modules.{module_file_name(module.name)}",
            base_class=module_class_names(module.name)[0],
            default_of=_default_of,
            constraints_of=_constraints_of,
            example_config=_example_config(tree, module),
        )
    return dict(sorted(pages.items()))


def _interface_page(
    tree: ManifestTree, interface: Interface, render: Callable[..., str], users: list[str]
) -> str:
    api = interface_api(tree, interface)
    impl_class, client_class = interface_class_names(interface.name)

    def args_schema(cmd: Any) -> dict[str, Any]:
        return {
            "type": "object",
            "required": list(cmd.arguments),
            "properties": dict(cmd.arguments),
        }

    return render(
        "interface.md.j2",
        header=_header(tree, interface.path),
        i=interface,
        source=tree.relative(interface.path),
        python_module=f"evstack.generated.interfaces.{identifier(interface.name)}",
        impl_class=impl_class,
        client_class=client_class,
        users=users,
        topics=_InterfaceTopics(),
        calls={c.name: c.call for c in api.commands},
        handlers={c.name: c.handler for c in api.commands},
        publishes={v.name: v.publish for v in api.vars},
        subscribes={v.name: v.subscribe for v in api.vars},
        default_qos=DEFAULT_VAR_QOS,
        args_schema=args_schema,
        clean=_clean,
    )
