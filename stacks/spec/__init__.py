"""The environment spec: the stack file's schema (model), its cross-field rules, and their errors."""
