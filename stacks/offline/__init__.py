"""The offline engine: the real Pulumi program under a recording mock monitor, producing a Plan."""
