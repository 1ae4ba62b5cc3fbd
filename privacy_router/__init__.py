"""privacy-router: an OpenAI-compatible gateway that keeps sensitive prompts on-prem."""

__version__ = "0.1.0"
