"""The contracts every part of the pipeline builds against: record layouts, reason codes and their
precedence, and the limits of DESIGN.md. Defined once here and imported everywhere, tests included.
No pyspark import: schemas are Spark DDL strings."""
