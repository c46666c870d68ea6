"""`mlenv drift`: what changed outside the code (state vs live, AWS sweep, Kubernetes sweep)."""
