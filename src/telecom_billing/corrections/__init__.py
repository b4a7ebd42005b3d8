"""Corrections without rewriting history (DESIGN.md section 7b): rerating a period under another
catalog (`rerate`, `adjustments`) and recycling rejected records (`recycle`)."""
