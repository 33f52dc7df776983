"""The API's routes, one module per concern; ``api.app`` includes their routers."""

from lnere.api.routes import calendar, figures, journeys, lists, review

__all__ = ["calendar", "figures", "journeys", "lists", "review"]
