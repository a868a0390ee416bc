"""Patient summary, trend charts and exports (print view, PDF, CSV, FHIR R4, cohort CSV)."""
