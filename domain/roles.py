"""Who acts in the process: the roles of the staff and representatives who use lnere."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"  # files requests (INETEL by phone, SRVE on the web), credentials, subsane documents
    REVIEWER = "reviewer"  # decides reviews, reopens rejections, reads a journey's personal data
    SUPERVISOR = "supervisor"  # everything above, fires milestones, reads the configuration
    VIEWER = "viewer"  # dashboard and reports
    PARTY = "party"  # a political party's representative: the list for review, observations on it
    OPL = "opl"  # a state's electoral body (Organismo Público Local): its own state's figures, reports and lists
