"""What the workspace says, in Spanish, when a rule refuses: by the rule's name (the refusal's
English message stays in logs and the JSON API). A rule not named here is shown with a general
sentence and its name, so a reviewer can still tell support which rule it was."""

from __future__ import annotations

from lnere.domain.refusals import Refusal

BY_RULE = {
    "reason-codes": "Elija motivos del catálogo del proceso.",
    "reason-document": "El documento señalado no es de este expediente.",
    "analysis-period": "La fecha de la decisión queda fuera del periodo de análisis del proceso.",
    "business-time-bounds": "La fecha queda fuera de las fechas del proceso electoral.",
    "business-time-future": "La fecha no puede ser posterior al momento actual.",
    "business-time-order": "La fecha es anterior al último movimiento del expediente.",
    "wrong-stage": "La solicitud ya no está en revisión: otra decisión se registró antes.",
    "awaits-decision": "La solicitud ya no espera una decisión.",
    "decision-needs-request": "El expediente no tiene una solicitud que decidir.",
    "claim-held": "Otra persona revisa este expediente.",
    "claim-missing": "Tome el expediente antes de decidirlo.",
    "claim-free": "Nadie tiene tomado este expediente.",
    "command-id-reused": "Esta decisión ya se registró con otro contenido.",
    "journey-exists": "No existe ese expediente.",
    "journey-ended": "El trámite de esta persona ya concluyó.",
    "personal-data-erased": "Los datos personales y documentos de esta persona fueron suprimidos.",
    "document-exists": "No existe ese documento en el expediente.",
    "subsane-deadline": "El plazo para subsanar ya venció.",
}

# Who is signed in, as the pages name the roles.
ROLE_LABELS = {"reviewer": "revisión (DERFE)", "supervisor": "supervisión", "operator": "operación (INETEL)",
               "viewer": "consulta", "party": "representación de partido", "opl": "OPL"}

# The decision form's fields, as the page names them.
FIELDS = {"outcome": "Decisión", "reasons": "Motivos", "at": "Fecha y hora", "notes": "Observaciones"}


def in_spanish(refusal: Refusal) -> str:
    return BY_RULE.get(refusal.rule, f"Una regla del proceso no lo permite ({refusal.rule}).")
