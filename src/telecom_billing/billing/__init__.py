"""Billing: a period's rated CDRs to invoices (`charges`), the period folder (`invoices`), its HTML
(`report`) and the reconciliation of raw records and amounts (`reconcile`)."""
