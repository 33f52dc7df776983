"""The API's routes, one module per concern; ``api.app`` includes their routers."""

from lnere.api.routes import attention, calendar, campaigns, documents, figures, journeys, lists, reports, review

__all__ = ["attention", "calendar", "campaigns", "documents", "figures", "journeys", "lists", "reports", "review"]
