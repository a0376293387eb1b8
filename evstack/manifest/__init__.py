"""EVerest-format manifests and runtime configs: loaded, checked, located.

Every fault is reported with file, line, column, YAML path, what was expected and a
hint, and all faults of a tree or config come in one ManifestError.
"""

from evstack.manifest.config import (
    Connection,
    ModuleInstance,
    RuntimeConfig,
    RuntimeSettings,
    load_runtime_config,
)
from evstack.manifest.model import (
    Command,
    ConfigItem,
    ErrorDefinition,
    ErrorFile,
    ErrorRef,
    Interface,
    ManifestTree,
    ModuleManifest,
    Provided,
    Requirement,
    TypeFile,
    Var,
)
from evstack.manifest.problems import ManifestError, Problem
from evstack.manifest.tree import load_project_tree, load_tree

__all__ = [
    "Command",
    "ConfigItem",
    "Connection",
    "ErrorDefinition",
    "ErrorFile",
    "ErrorRef",
    "Interface",
    "ManifestError",
    "ManifestTree",
    "ModuleInstance",
    "ModuleManifest",
    "Problem",
    "Provided",
    "Requirement",
    "RuntimeConfig",
    "RuntimeSettings",
    "TypeFile",
    "Var",
    "load_project_tree",
    "load_runtime_config",
    "load_tree",
]
