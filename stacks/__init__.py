"""mlenv stacks: what a stack is (the spec), and the code that runs stacks (offline engine, CLI)."""
