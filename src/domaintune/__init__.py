"""domaintune: adapt pretrained transformer encoders to your domain, with proof of what changed."""

from domaintune.errors import DomaintuneError

__version__ = "0.1.0"

__all__ = ["DomaintuneError", "__version__"]
