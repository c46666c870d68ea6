"""mlenv's CrossGuard policy pack (``__main__.py`` lists every policy) and the offline check around it."""
