"""Other tools' formats: DVC export and import."""
