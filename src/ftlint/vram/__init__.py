"""VRAM fit: peak memory of a fine-tuning step from the config alone (no torch), a verdict
against a GPU, the changes that would make it fit, and projected time and cost."""

from .estimator import Estimate, Suggestion, estimate, human_bytes
from .gpus import GPU, custom_gpu, find_gpu, gpu_ids, parse_memory

__all__ = ["GPU", "Estimate", "Suggestion", "custom_gpu", "estimate", "find_gpu", "gpu_ids", "human_bytes",
           "parse_memory"]
