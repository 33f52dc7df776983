"""What the view's reads and writes need from the backend that stores it (``views`` gives it)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any


class ViewStorage:
    mark: str  # the backend's parameter placeholder: the view's SQL is written with it
    tracking_table: str

    if TYPE_CHECKING:  # given by the backend's tracking recorder
        datastore: Any
        insert_tracking_statement: Any

        def _transaction(self, commit: bool) -> AbstractContextManager[Any]: ...

        def max_tracking_id(self, application_name: str) -> int | None: ...
