"""The form engine: form-js schemas, versions, server-side validation, records and no-code apps."""
