"""The HTTP API and dashboard: ``create_app(ctx)`` builds the FastAPI app that
``klaviyo-analytics serve`` runs."""

from klaviyo_analytics.api.app import API_PREFIX, create_app

__all__ = ["API_PREFIX", "create_app"]
