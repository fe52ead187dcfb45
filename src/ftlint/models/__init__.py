"""Model architecture facts, offline: config.json folders, the HF cache, a built-in catalog.

Public API: `resolve_arch`, `ModelNotFound`, `ModelArch`, `linear_modules`, `expert_parameters`,
`count_params`, `ParamCounts`, `arch_from_config`.
"""

from .arch import ModelArch
from .params import ParamCounts, count_params, expert_parameters, linear_modules
from .resolve import ModelNotFound, arch_from_config, resolve_arch

__all__ = ["ModelArch", "ModelNotFound", "ParamCounts", "arch_from_config", "count_params",
           "expert_parameters", "linear_modules", "resolve_arch"]
