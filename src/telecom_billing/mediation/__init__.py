"""Mediation (DESIGN.md section 4, docs/RULES.md): raw records to normalized, validated,
enriched CDRs, as small `DataFrame -> DataFrame` stages chained by `telecom_billing.pipeline`.

Each stage adds named columns; every check writes its problem to the column named after its
reason (`columns.problem`), and `outcome.decide` picks one by `contracts.reasons.PRECEDENCE`.
"""
