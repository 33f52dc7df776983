"""What the pages call things, in INE's Spanish (one home for the desk and the public pages)."""

from __future__ import annotations

STAGE_LABELS = {
    "credential_recorded": "Credencial registrada, sin solicitud", "in_review": "En revisión",
    "inconsistencies": "Con inconsistencias", "meets_requirements": "Cumple los requisitos",
    "rejected": "Improcedente", "listed_for_review": "En la LNERE para Revisión",
    "included": "En la LNERE Definitiva", "excluded": "Excluida de la LNERE", "closed_without_request": "Sin solicitud",
}
MODALITY_LABELS = {"postal": "vía postal", "internet": "por internet", "in_person": "presencial en un consulado"}
