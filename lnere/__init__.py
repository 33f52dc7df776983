"""lnere: the registration of citizens who vote from abroad (LNERE), as one package.

The repository keeps its folders at the top (``domain/``, ``workflows/``, ``activities/``,
``projections/``, …, ``worker.py``); this package names them (its entries are links to them), so
that what is installed is ``lnere`` alone: ``lnere.domain``, ``lnere.workflows``, …"""
