"""klaviyo-analytics: a self-hosted analytics warehouse for Klaviyo e-commerce data."""

__version__ = "0.1.0"
