"""ftlint: a static-analysis linter for LLM fine-tuning datasets and training configs."""

__version__ = "0.1.0"
